// Package storage keeps resources in MongoDB, or in an embedded FerretDB when no
// MongoDB URI is configured, as opaque JSON produced by the caller.
//
// It knows nothing about FHIR models: a resource is a type name, an id and the bytes
// that [Resource.MarshalJSON] returns, stored unchanged so that decimals such as 1.50
// survive. The server owns the version id and the last-updated instant, which storage
// stamps on the resource right before marshalling it.
//
// # Layout
//
// Each datastore (tenant) is one database named "fhirgate_" + name. In it:
//
//   - <Type>: current versions, {_id: id, v, ts, seq, del?, json?, op?}; a delete leaves
//     a tombstone (del: true, no json) so that version numbers continue after it; op is
//     the kind of write that made the version ([Op]).
//   - <Type>_history: every version ever committed, immutable,
//     {_id: "<id>/<v>", id, v, ts, seq, del?, json?, op?}.
//   - _counters: {_id: "seq", n}, the last allocated (on the embedded engine, the
//     last reserved) commit sequence number.
//   - _pending: {_id: "<seq>", ts, tok, ops: [{t, id, v, del?}]}, one document per
//     commit in flight: what recovery needs to finish or undo it.
//   - _journal: {_id: "<seq>", seq, ts, st, tok?, ops?}, one document per resolved
//     sequence number, st "c" (committed, with its ops) or "a" (aborted); the
//     committed ones are the change feed. tok tells a commit its own entry apart.
//   - _state: {_id: key, v, ts}, small values the server keeps about its own work (the
//     delivery cursors and leases of FHIR Subscriptions), read and written by _id.
//
// Sequence numbers are stored in _id as 19-digit zero-padded decimal strings because
// the embedded engine only pushes string or ObjectID _id filters down to SQL.
//
// # Commits without transactions
//
// [Store.Commit] is all-or-nothing over any number of resources on an engine without
// multi-document transactions. A commit reads the current versions, allocates a
// sequence number with an atomic $inc, records its intent in _pending, then claims
// each new version by inserting its history document (a duplicate _id means another
// writer got there first). Inserting the _journal document with st "c" is the commit
// point; only then are the current documents replaced and the _pending document
// removed. Whoever finds a sequence number unresolved for too long (a reader of the
// change feed, a writer that ran into a claim, recovery) may fence it by inserting an
// aborted _journal document first: the unique _id decides between commit and abort,
// so a slow committer can never commit after it was given up on. Recovery rolls
// committed commits forward and removes the claims of aborted ones.
//
// # The embedded engine
//
// FerretDB v1.24.2 pushes only filters of exactly {_id: <string>} down to SQLite, and
// its own _id index does not match the expression it queries with, so storage creates
// a matching SQLite expression index for every collection (see package embedded) and keeps
// every query on a collection that can grow large to that one shape. The embedded
// engine runs in this process only, which is what makes the in-process locks that
// replace conditional updates on it sound; the data directory is locked against a
// second process. It also lets a commit skip two writes: sequence numbers are
// reserved in blocks and handed out from memory, and pending records of finished
// commits are removed in batches.
package storage
