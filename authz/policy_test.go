package authz

import (
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/model"
)

// testDataTypes is the DataType group the default policy is checked with: the data types
// its rules name, and a few it does not (Coding, Period, Quantity), which only the
// group rule reaches.
var testDataTypes = []string{
	"Address", "Annotation", "Attachment", "CodeableConcept", "Coding", "ContactPoint",
	"HumanName", "Identifier", "Narrative", "Period", "Quantity", "Reference",
}

// defaultPolicyRoles returns the roles the default policy names, in order of appearance, and
// those it allows everything ("p, role, *, *, allow"), which no row can show denied.
func defaultPolicyRoles(t *testing.T) (roles []string, unbounded map[string]bool) {
	t.Helper()
	unbounded = map[string]bool{}
	for _, line := range strings.Split(defaultPolicy, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cr := csv.NewReader(strings.NewReader(line))
		cr.TrimLeadingSpace = true
		r, err := cr.Read()
		if err != nil {
			t.Fatalf("policy.csv: %q: %v", line, err)
		}
		var named []string
		switch r[0] {
		case "p": // p, role, object, action, effect
			named = r[1:2]
			if len(r) == 5 && strings.TrimSpace(r[2]) == "*" && strings.TrimSpace(r[3]) == "*" && strings.TrimSpace(r[4]) == "allow" {
				unbounded[strings.TrimSpace(r[1])] = true
			}
		case "g": // g, role, parent role
			named = r[1:3]
		}
		for _, role := range named {
			if role = strings.TrimSpace(role); !slices.Contains(roles, role) {
				roles = append(roles, role)
			}
		}
	}
	return roles, unbounded
}

// testEnforce checks one decision of the policy.
func testEnforce(t *testing.T, p *Policy, role, obj, act string, want bool) {
	t.Helper()
	if got := p.Allows(role, obj, act); got != want {
		t.Errorf("(%s, %s, %s) = %v, want %v", role, obj, act, got, want)
	}
}

// TestDefaultPolicy pins the decisions of the default policy (policy.csv over model.conf),
// allowances and denials, for every role the file names: a role added to the file without
// rows here fails, as does a role whose rows pin no denial (unless the file allows it
// everything).
func TestDefaultPolicy(t *testing.T) {
	p, err := NewPolicy(PolicyConfig{Groups: map[string][]string{
		GroupResource: model.ResourceTypes(),
		GroupDataType: testDataTypes,
	}})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		role, obj, act string
		want           bool
	}
	const allow, deny = true, false
	rows := []row{
		// admin: everything, the audit trail included.
		{"admin", "Patient", ActRead, allow},
		{"admin", "AuditEvent", ActRead, allow},
		{"admin", "AuditEvent", ActDelete, allow},
		{"admin", "StructureDefinition", ActUpdate, allow},
		{"admin", "Patient.birthDate", ActRead, allow},
		{"admin", "HumanName", ActRead, allow},
		{"admin", "Observation", ActAnalyze, allow},
		{"admin", "Observation", "unknown-action", allow}, // "*" matches any action

		// clinician: clinical data, not the audit trail nor definitional writes.
		{"clinician", "Patient", ActRead, allow},
		{"clinician", "Observation", ActSearch, allow},
		{"clinician", "Observation", ActCreate, allow},
		{"clinician", "Condition", ActUpdate, allow},
		{"clinician", "Encounter", ActDelete, allow},
		{"clinician", "Observation", ActAnalyze, allow},
		{"clinician", "Patient", ActSubscribe, allow},
		{"clinician", "Patient.name", ActRead, allow},
		{"clinician", "HumanName.family", ActRead, allow},
		{"clinician", "StructureDefinition", ActRead, allow},
		{"clinician", "ValueSet", ActSearch, allow},
		{"clinician", "AuditEvent", ActRead, deny},
		{"clinician", "AuditEvent", ActSearch, deny},
		{"clinician", "AuditEvent", ActCreate, deny},
		{"clinician", "StructureDefinition", ActCreate, deny},
		{"clinician", "SearchParameter", ActUpdate, deny},
		{"clinician", "CodeSystem", ActDelete, deny},
		{"clinician", "ConceptMap", ActCreate, deny},
		{"clinician", "Observation", "unknown-action", deny},

		// analyst: reads and searches, de-identified.
		{"analyst", "Observation", ActRead, allow},
		{"analyst", "Observation", ActSearch, allow},
		{"analyst", "Observation.code", ActRead, allow},
		{"analyst", "Observation.subject", ActRead, allow},
		{"analyst", "Address.state", ActRead, allow},
		{"analyst", "Address.country", ActRead, allow},
		{"analyst", "Address", ActRead, allow},
		{"analyst", "Reference.reference", ActRead, allow},
		{"analyst", "Patient.gender", ActRead, allow},
		{"analyst", "Encounter.period", ActRead, allow},
		{"analyst", "Observation", ActCreate, deny},
		{"analyst", "Patient", ActUpdate, deny},
		{"analyst", "Observation", ActAnalyze, deny},
		{"analyst", "AuditEvent", ActRead, deny},
		{"analyst", "HumanName", ActRead, deny},
		{"analyst", "ContactPoint", ActRead, deny},
		{"analyst", "Identifier", ActRead, deny},
		{"analyst", "Annotation", ActRead, deny},
		{"analyst", "Address.line", ActRead, deny},
		{"analyst", "Address.city", ActRead, deny},
		{"analyst", "Address.postalCode", ActRead, deny},
		{"analyst", "Patient.photo", ActRead, deny},
		{"analyst", "Practitioner.photo", ActRead, deny},
		{"analyst", "Location.alias", ActRead, deny},
		{"analyst", "Narrative.div", ActRead, deny},
		{"analyst", "Attachment.data", ActRead, deny},
		{"analyst", "Attachment.url", ActRead, deny},
		{"analyst", "Reference.display", ActRead, deny},
		{"analyst", "Patient.birthDate", ActRead, deny},
		{"analyst", "Patient.deceasedDateTime", ActRead, deny},
		{"analyst", "RelatedPerson.birthDate", ActRead, deny},

		// partner: the shared resource types only.
		{"partner", "Patient", ActRead, allow},
		{"partner", "Observation", ActSearch, allow},
		{"partner", "CarePlan", ActSubscribe, allow},
		{"partner", "Patient.name", ActRead, allow},
		{"partner", "HumanName", ActRead, allow},
		{"partner", "Coding", ActRead, allow},
		{"partner", "Practitioner", ActRead, deny},
		{"partner", "Organization", ActSearch, deny},
		{"partner", "AuditEvent", ActRead, deny},
		{"partner", "Patient", ActCreate, deny},
		{"partner", "Observation", ActUpdate, deny},
		{"partner", "Observation", ActAnalyze, deny},
		{"partner", "HumanName", ActSearch, deny},

		// patient: reads their own compartment (storage confines it).
		{"patient", "Patient", ActRead, allow},
		{"patient", "Observation", ActSearch, allow},
		{"patient", "Patient", ActSubscribe, allow},
		{"patient", "Patient.birthDate", ActRead, allow},
		{"patient", "HumanName", ActRead, allow},
		{"patient", "Patient", ActCreate, deny},
		{"patient", "Observation", ActUpdate, deny},
		{"patient", "Observation", ActDelete, deny},
		{"patient", "Observation", ActAnalyze, deny},
		{"patient", "AuditEvent", ActRead, deny},
		{"patient", "AuditEvent", ActSearch, deny},

		// Deny by default: a role the policy does not name, and no role.
		{"nurse", "Patient", ActRead, deny},
		{"nurse", "Patient.name", ActRead, deny},
		{"", "Patient", ActRead, deny},
	}
	allows, denies := map[string]int{}, map[string]int{}
	for _, r := range rows {
		testEnforce(t, p, r.role, r.obj, r.act, r.want)
		if r.want {
			allows[r.role]++
		} else {
			denies[r.role]++
		}
	}
	roles, unbounded := defaultPolicyRoles(t)
	for _, role := range roles {
		if allows[role] == 0 || denies[role] == 0 && !unbounded[role] {
			t.Errorf("role %q of policy.csv: %d allowed and %d denied decisions pinned; pin both", role, allows[role], denies[role])
		}
	}
	for role := range allows {
		if !slices.Contains(roles, role) {
			t.Errorf("role %q is allowed something but policy.csv does not name it", role)
		}
	}
	t.Logf("%d decisions pinned for %d roles of policy.csv (%v)", len(rows), len(roles), roles)
	if len(roles) < 5 {
		t.Errorf("policy.csv names %d roles, want at least the 5 default ones", len(roles))
	}
}
