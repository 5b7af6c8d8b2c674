package authz

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// A Subscription carries secrets (channel.header: the credentials its rest-hook endpoint
// expects) and names what its owner watches (criteria may name patients), so it is readable,
// searchable and writable only by the principal that created it, and by admins. The server
// marks each Subscription it stores with a meta.tag of SubscriptionOwnerSystem whose code is
// its writer's SubscriptionOwnerKey, and confines every other principal to the Subscriptions
// carrying its own key through a storage scope: the Subscriptions of others answer like
// Subscriptions that do not exist, in every read, search, history, include and write.

// SubscriptionOwnerSystem is the system of the meta.tag that names a Subscription's owner.
const SubscriptionOwnerSystem = "https://fhirgate.dev/fhir/CodeSystem/subscription-owner"

// SubscriptionOwnerKey returns the code of p's owner tag: a digest of its subject and client,
// so that the tag identifies the owner without naming it.
func SubscriptionOwnerKey(p *Principal) string {
	sum := sha256.Sum256([]byte("fhirgate subscription owner\x00" + p.Subject + "\x00" + p.Client))
	return hex.EncodeToString(sum[:16])
}

// SeesAllSubscriptions reports whether p reads and writes every Subscription: an admin, or
// the principal of a server running without authentication.
func SeesAllSubscriptions(p *Principal) bool {
	return p == nil || p.Anonymous || p.HasRole(RoleAdmin)
}

// SubscriptionScope returns the storage scope that confines p to the Subscriptions it owns,
// leaving every other type alone; nil when p sees them all.
func SubscriptionScope(p *Principal) storage.Scope {
	if SeesAllSubscriptions(p) {
		return nil
	}
	return search.Tagged{Type: "Subscription", System: SubscriptionOwnerSystem, Code: SubscriptionOwnerKey(p)}
}
