package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/fault"
)

// Resource is any FHIR resource: one of the generated resource types, always used by pointer.
type Resource interface {
	// TypeName returns the FHIR resource type, such as "Patient".
	TypeName() string
	// ResourceID returns the logical id, or "" when it has none.
	ResourceID() string
	// SetResourceID sets the logical id.
	SetResourceID(id string)
	// ResourceMeta returns the resource's meta, creating an empty one when absent.
	ResourceMeta() *Meta
	// ContainedResources returns the resources contained in this one.
	ContainedResources() []Resource
	// StampMeta sets the server-managed meta.versionId and meta.lastUpdated.
	StampMeta(versionID string, lastUpdated time.Time)
	// MarshalJSON encodes the resource as FHIR JSON.
	MarshalJSON() ([]byte, error)
}

// ResourceTypes returns the names of all R4 resource types, sorted. The caller must not modify it.
func ResourceTypes() []string { return resourceTypes }

// IsResourceType reports whether name is an R4 resource type.
func IsResourceType(name string) bool {
	i := sort.SearchStrings(resourceTypes, name)
	return i < len(resourceTypes) && resourceTypes[i] == name
}

// New returns an empty resource of the named type, or nil when name is not an R4 resource type.
func New(name string) Resource { return newResource(name) }

// ErrInvalid marks input that is not valid FHIR R4 JSON; errors.Is(err, ErrInvalid) holds for every
// decoding error this package returns.
var ErrInvalid = fault.New(fault.Invalid, "invalid FHIR resource")

// Unmarshal decodes one FHIR JSON resource of any type, strictly.
func Unmarshal(data []byte) (Resource, error) {
	var head struct {
		ResourceType *string `json:"resourceType"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, invalid(err)
	}
	if head.ResourceType == nil {
		return nil, fmt.Errorf("%w: resourceType is missing", ErrInvalid)
	}
	r := newResource(*head.ResourceType)
	if r == nil {
		return nil, fmt.Errorf("%w: unknown resourceType %q", ErrInvalid, *head.ResourceType)
	}
	if err := decodeStrict(data, r); err != nil {
		return nil, fmt.Errorf("%s: %w", *head.ResourceType, invalid(err))
	}
	return r, nil
}

// UnmarshalAs decodes data strictly into a resource of the given type, refusing any other resourceType.
func UnmarshalAs[T Resource](data []byte) (T, error) {
	var zero T
	r, err := Unmarshal(data)
	if err != nil {
		return zero, err
	}
	t, ok := r.(T)
	if !ok {
		return zero, fmt.Errorf("%w: resourceType is %s, expected %s", ErrInvalid, r.TypeName(), zero.TypeName())
	}
	return t, nil
}

// Marshal encodes a resource as compact FHIR JSON without HTML escaping.
func Marshal(r Resource) ([]byte, error) { return marshalCompact(r) }

func invalid(err error) error {
	if errors.Is(err, ErrInvalid) {
		return err
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	msg = strings.Replace(msg, "unknown field", "unknown element", 1)
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}

// decodeStrict decodes one JSON value, refusing unknown elements and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the resource")
	}
	return nil
}

func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ResourceList is a list of resources of any type, such as DomainResource.contained.
type ResourceList []Resource

// UnmarshalJSON decodes each element by its resourceType.
func (l *ResourceList) UnmarshalJSON(data []byte) error {
	var raws []rawResource
	if err := json.Unmarshal(data, &raws); err != nil {
		return err
	}
	out := make(ResourceList, len(raws))
	for i, r := range raws {
		out[i] = r.Resource
	}
	*l = out
	return nil
}

// rawResource decodes a single inline resource by its resourceType.
type rawResource struct{ Resource Resource }

func (r *rawResource) UnmarshalJSON(data []byte) error {
	res, err := Unmarshal(data)
	if err != nil {
		return err
	}
	r.Resource = res
	return nil
}

// RawResource is a complete resource in FHIR JSON as a client sent it, before validation.
// It is what GraphQL mutations take as their res argument.
type RawResource json.RawMessage

// UnmarshalGQL accepts a JSON object (a GraphQL variable or an input literal) or a JSON string.
// Variables keep decimal digits exactly, because the transport decodes numbers as json.Number.
func (r *RawResource) UnmarshalGQL(v any) error {
	switch v := v.(type) {
	case string:
		*r = RawResource(v)
		return nil
	case map[string]any:
		b, err := marshalCompact(v)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		*r = b
		return nil
	}
	return fmt.Errorf("%w: expected a JSON object, got %T", ErrInvalid, v)
}

// MarshalGQL writes the raw JSON.
func (r RawResource) MarshalGQL(w io.Writer) { w.Write(r) }

// stampMeta sets the server-managed meta.versionId and meta.lastUpdated of r, in the
// instant format FHIR requires, with milliseconds.
func stampMeta(r Resource, versionID string, lastUpdated time.Time) {
	m := r.ResourceMeta()
	vid := ID(versionID)
	lu := Instant(lastUpdated.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	m.VersionId, m.LastUpdated = &vid, &lu
}

func derefID(id *ID) string {
	if id == nil {
		return ""
	}
	return string(*id)
}
