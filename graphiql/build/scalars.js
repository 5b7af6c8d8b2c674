// JSON schemas of the schema's custom scalars, for the Variables editor. GraphiQL checks
// variables against JSON schemas made from the GraphQL types, and takes an unknown scalar for
// a string, number or boolean: every resource given to a mutation (PatientInput and the other
// XInput scalars hold FHIR JSON) would be marked a type error.

import { isObjectType, isScalarType, specifiedScalarTypes } from 'graphql';

const builtIn = new Set(specifiedScalarTypes.map((t) => t.name));
const anyJSON = ['object', 'array', 'string', 'number', 'boolean'];

// FHIR primitives: a decimal is a JSON number (or its text); the others are strings.
const primitives = { decimal: { type: ['number', 'string'] }, base64Binary: { type: 'string' } };

function resource(type) {
  return {
    type: 'object',
    description: type ? `A ${type} resource in FHIR R4 JSON.` : 'A resource of any type in FHIR R4 JSON.',
    required: ['resourceType'],
    properties: { resourceType: type ? { const: type } : { type: 'string' }, id: { type: 'string' } },
  };
}

export function scalarSchemas(schema) {
  const out = {};
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isScalarType(type) || builtIn.has(type.name)) {
      continue;
    }
    const name = type.name;
    const described = type.description ? { description: type.description } : {};
    const target = name.endsWith('Input') ? schema.getType(name.slice(0, -'Input'.length)) : null;
    if (name === 'ResourceInput') {
      out[name] = resource(null);
    } else if (target && isObjectType(target)) {
      out[name] = resource(target.name);
    } else if (primitives[name]) {
      out[name] = { ...described, ...primitives[name] };
    } else if (/^[a-z]/.test(name)) {
      out[name] = { ...described, type: 'string' }; // date, dateTime, instant, code, uri...
    } else {
      out[name] = { ...described, type: anyJSON }; // JSON, SearchParams, the search scalars
    }
  }
  return out;
}
