package model

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/reflect/protoreflect"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// Resource is one parsed and validated R4 resource.
type Resource struct {
	contained *rpb.ContainedResource
	msg       protoreflect.Message // the resource inside contained
	typ       string
	body      []byte       // the client's JSON, compacted: the canonical form's source
	stamp     *versionMeta // set by SetMeta
}

// codec holds the library's unmarshaller. It keeps only configuration set
// at construction and is safe for concurrent use, so one serves the whole
// process.
type codec struct {
	unmarshaller *jsonformat.Unmarshaller
	types        map[string]protoreflect.FieldDescriptor // resource type -> ContainedResource field
	typeNames    []string
}

var sharedCodec = sync.OnceValues(newCodec)

func newCodec() (*codec, error) {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return nil, fmt.Errorf("model: new unmarshaller: %w", err)
	}
	c := &codec{unmarshaller: u, types: map[string]protoreflect.FieldDescriptor{}}
	oneof := (&rpb.ContainedResource{}).ProtoReflect().Descriptor().Oneofs().ByName("oneof_resource")
	fields := oneof.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Message() == nil {
			continue
		}
		name := string(f.Message().Name())
		c.types[name] = f
		c.typeNames = append(c.typeNames, name)
	}
	sort.Strings(c.typeNames)
	return c, nil
}

func mustCodec() *codec {
	c, err := sharedCodec()
	if err != nil {
		// The codec depends only on compiled-in descriptors: failing here is a
		// programming error, not a runtime condition.
		panic(err)
	}
	return c
}

// IsResourceType reports whether name is an R4 resource type (exact case).
func IsResourceType(name string) bool {
	_, ok := mustCodec().types[name]
	return ok
}

// ResourceTypes returns every R4 resource type name, sorted.
func ResourceTypes() []string {
	return append([]string(nil), mustCodec().typeNames...)
}

// Type returns the resource type name, e.g. "Patient".
func (r *Resource) Type() string { return r.typ }

// ID returns the logical id, or "" when absent.
func (r *Resource) ID() string {
	fd := r.msg.Descriptor().Fields().ByName("id")
	if fd == nil || !r.msg.Has(fd) {
		return ""
	}
	id, ok := r.msg.Get(fd).Message().Interface().(*dpb.Id)
	if !ok {
		return ""
	}
	return id.GetValue()
}

// SetID sets the logical id; an empty id removes it.
func (r *Resource) SetID(id string) {
	fd := r.msg.Descriptor().Fields().ByName("id")
	if id == "" {
		r.msg.Clear(fd)
		return
	}
	r.msg.Set(fd, protoreflect.ValueOfMessage((&dpb.Id{Value: id}).ProtoReflect()))
}

// SetMeta sets meta.versionId and meta.lastUpdated (UTC, millisecond
// precision), keeping the rest of meta.
func (r *Resource) SetMeta(versionID int64, lastUpdated time.Time) {
	lastUpdated = lastUpdated.UTC().Truncate(time.Millisecond)
	r.stamp = &versionMeta{versionID: versionID, lastUpdated: lastUpdated}
	// The proto follows, for code that reads the typed model.
	meta := r.meta()
	meta.VersionId = &dpb.Id{Value: fmt.Sprint(versionID)}
	meta.LastUpdated = &dpb.Instant{
		ValueUs:   lastUpdated.UnixMicro(),
		Timezone:  "Z",
		Precision: dpb.Instant_MILLISECOND,
	}
}

// meta returns the resource's Meta, creating it when absent.
func (r *Resource) meta() *dpb.Meta {
	fd := r.msg.Descriptor().Fields().ByName("meta")
	return r.msg.Mutable(fd).Message().Interface().(*dpb.Meta)
}

// Proto returns the underlying google/fhir ContainedResource, for code that
// evaluates paths over the typed model.
func (r *Resource) Proto() *rpb.ContainedResource { return r.contained }

func newResource(cr *rpb.ContainedResource, body []byte) (*Resource, error) {
	m := cr.ProtoReflect()
	oneof := m.Descriptor().Oneofs().ByName("oneof_resource")
	f := m.WhichOneof(oneof)
	if f == nil {
		return nil, newError("", "the resource is empty", false)
	}
	return &Resource{contained: cr, msg: m.Get(f).Message(), typ: string(f.Message().Name()), body: body}, nil
}
