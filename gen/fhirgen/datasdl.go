package main

// subscriptionSDL is the change feed as GraphQL subscriptions: one generic field with a type
// argument rather than one per resource type, since a per-type field with every search
// argument would add about as much executor as XList does. The payload's resource is the
// Resource interface, selected with inline fragments and checked per field like any read.
// The root type is not named Subscription, which R4 uses for a resource.
const subscriptionSDL = `
"Kinds of change to a resource."
enum ChangeOperation {
  "The first version of the resource (or the first after a delete)."
  CREATE
  "A new version of an existing resource."
  UPDATE
  "The resource was deleted."
  DELETE
}

"One change to a resource that a subscription's criteria select."
type ResourceChange {
  "What happened to the resource."
  operation: ChangeOperation!
  "True when the new version no longer matches the criteria while the previous one did: the resource leaves the subscription's results. The resource is then its new version."
  leaving: Boolean!
  "Resume token: pass it as since to receive the changes after this one."
  token: String!
  "The resource's type."
  type: ResourceType!
  "The resource's id."
  id: ID!
  "The version this change wrote (meta.versionId)."
  versionId: String!
  "The commit instant (meta.lastUpdated)."
  lastUpdated: instant!
  "The version this change wrote; null for a delete."
  resource: Resource
}

"Changes to resources, as they commit, in commit order."
type SubscriptionRoot {
  "Every change to a resource of type that matches where (the same search arguments as typeList, as an object) or criteria (a FHIR search query string such as code=http://loinc.org|4548-4&subject=Patient/123; not both), before or after the change, limited to operations (all when absent). since is a resume token (ResourceChange.token): the changes after it are replayed first, then live ones follow with no gap and no duplicate; a token older than the server keeps is BAD_USER_INPUT. Needs search permission on type; each payload passes the same field and compartment checks as a query."
  changed(type: ResourceType!, where: SearchParams, criteria: String, operations: [ChangeOperation!], since: String): ResourceChange!
}
`

// bundleSDL is FHIR batch and transaction processing as a mutation (beyond the FHIR
// GraphQL specification), running the same code as POST /fhir.
const bundleSDL = `
extend type Mutation {
  "Processes a Bundle of type batch or transaction exactly as POST /fhir does, and answers its batch-response or transaction-response Bundle. A transaction is atomic: if any entry fails nothing is written and the error names the entry. Each entry needs the permission its interaction needs."
  transaction(res: BundleInput!): Bundle
}
`

// datastoreSDL is the administration of datastores: isolated stores, each its own MongoDB
// database, addressed by the /ds/{name} path prefix. Admin only.
const datastoreSDL = `
"An isolated datastore: its own MongoDB database, served under /ds/{name}/."
type Datastore {
  "The datastore's name, used in its path prefix."
  name: String!
  "True for the datastore served without a prefix."
  default: Boolean!
}

extend type Query {
  "Every datastore. Admin only."
  datastores: [Datastore!]!
}

extend type Mutation {
  "Creates an empty datastore; its name is 1 to 32 lower-case letters, digits and hyphens, starting with a letter. A name in use is CONFLICT. Admin only."
  datastoreCreate(name: String!): Datastore
  "Deletes a datastore and everything in it; answers true. The default datastore cannot be deleted. Admin only."
  datastoreDelete(name: String!): Boolean
}
`

// analyticsSDL is the analysts' surface: aggregates over any search and SQL on FHIR views,
// each one generic field. The FHIR GraphQL flattening directives are not declared here:
// gqlgen wraps every field of the executor in a directive check (30,000 lines) once the
// schema has an executable directive, so they are added to the served schema at startup.
const analyticsSDL = `
"Any JSON value."
scalar JSON

"Date buckets of a date grouping key."
enum DateBucket {
  DAY
  WEEK
  MONTH
  YEAR
}

"A grouping key of an aggregate: a search parameter of the type (grouped by its values as search indexes them) or a FHIRPath expression on each resource; one of param and fhirpath."
input AggregateKey {
  "The key's name in results; the param or expression when absent."
  name: String
  "A search parameter of the aggregated type."
  param: String
  "A FHIRPath expression on each resource."
  fhirpath: String
  "For a date key, the bucket its values fall into."
  bucket: DateBucket
}

"A statistic of an aggregate: the numbers or quantities a search parameter or FHIRPath expression gives, summarised per unit."
input AggregateMeasure {
  "The measure's name in results; the param or expression when absent."
  name: String
  "A number or quantity search parameter of the aggregated type."
  param: String
  "A FHIRPath expression giving numbers or quantities."
  fhirpath: String
  "Percentiles to compute, each between 0 and 100."
  percentiles: [Float!]
}

"Statistics of one measure for one unit."
type AggregateStats {
  "The measure's name."
  name: String!
  "The unit (a UCUM code, or the quantity's unit text); null for plain numbers."
  unit: String
  count: Int!
  min: Float
  max: Float
  mean: Float
  sum: Float
  "The values at the requested percentiles, in the order requested."
  percentiles: [Float]
}

"One group of an aggregate."
type AggregateGroup {
  "The group's value of each key, in the order of groupBy; null where a resource has none."
  key: [String]!
  "How many resources fall in the group."
  count: Int!
  stats: [AggregateStats!]!
}

"Counts and statistics of the resources a search matches."
type Aggregate {
  "How many resources match."
  count: Int!
  "Statistics over all matches."
  stats: [AggregateStats!]!
  "The groups, by descending count, when groupBy is given."
  groups: [AggregateGroup!]!
  "How many groups were left out because they are smaller than the minimum cell size of the caller's role."
  suppressed: Int!
}

"A column of a view's rows."
type ViewColumn {
  name: String!
  "The column's FHIR type, when the view or its expression says."
  type: String
  "True when the column holds a list."
  collection: Boolean!
}

"The rows a SQL on FHIR ViewDefinition gives."
type ViewRows {
  columns: [ViewColumn!]!
  "Each row's values in the order of columns."
  rows: [[JSON]!]!
}

extend type Query {
  "Counts the resources of type that match where (the same search arguments as typeList, as an object), optionally grouped by keys and with statistics of measures. Grouping or measuring by a field the caller may not read is refused as searching by it is."
  aggregate(type: ResourceType!, where: SearchParams, groupBy: [AggregateKey!], measures: [AggregateMeasure!]): Aggregate
  "Runs a SQL on FHIR v2 ViewDefinition (inline as view, or the stored ViewDefinition viewReference names) over the server's resources, or over resources when given, and answers its rows. patient limits the rows to one patient's compartment; _since to resources changed since then."
  viewDefinitionRun(view: JSON, viewReference: String, resources: [ResourceInput!], patient: String, _limit: Int, _since: instant): ViewRows
}
`
