package storage

import (
	"context"
	"testing"
)

// IndexedTestStore returns a fresh datastore on the suite's engine whose current versions
// carry the search fields ix computes. It serves the tests of package storage_test, which
// can import the real indexer (package search imports storage, so this package's own
// tests cannot): the client shares the suite's connection and differs only in its indexer.
func IndexedTestStore(t testing.TB, ix Indexer) *Store {
	t.Helper()
	c := &Client{log: testClient.log, uri: testClient.uri, mc: testClient.mc, eng: testClient.eng, be: testClient.be,
		gapTimeout: testClient.gapTimeout, now: testClient.now, indexer: ix, stores: map[string]*Store{}}
	s := openStore(t, c, newStoreName())
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s
}
