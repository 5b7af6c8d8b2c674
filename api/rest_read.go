package api

import (
	"net/http"
	"strconv"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/storage"
)

// read serves GET /fhir/{type}/{id}: the current version, 410 when it is deleted, 404 when
// it does not exist or lies outside the caller's compartment, 304 when If-None-Match names
// it or it has not changed since If-Modified-Since.
func (a *restAPI) read(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActRead); err != nil {
		return err
	}
	rec, err := a.cfg.Store.Read(c.ctx, c.typ, c.id)
	if err != nil {
		return err
	}
	if notModified(c.r, rec) {
		c.versionHeaders(rec)
		return newRESTErr(http.StatusNotModified, "informational", "not modified")
	}
	return c.writeResource(http.StatusOK, rec)
}

// vread serves GET /fhir/{type}/{id}/_history/{vid}.
func (a *restAPI) vread(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActRead); err != nil {
		return err
	}
	v, err := strconv.ParseInt(c.r.PathValue("vid"), 10, 64)
	if err != nil || v < 1 {
		return newRESTErr(http.StatusNotFound, "not-found", "%s/%s has no version %q.", c.typ, clipText(c.id), clipText(c.r.PathValue("vid")))
	}
	rec, err := a.cfg.Store.ReadVersion(c.ctx, c.typ, c.id, v)
	if err != nil {
		return err
	}
	if notModified(c.r, rec) {
		c.versionHeaders(rec)
		return newRESTErr(http.StatusNotModified, "informational", "not modified")
	}
	return c.writeResource(http.StatusOK, rec)
}

// notModified reports whether the request's If-None-Match names rec's version, or (without
// If-None-Match) rec has not changed since If-Modified-Since.
func notModified(r *http.Request, rec *storage.Record) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if inm == "*" {
			return true
		}
		v, ok := parseETag(inm)
		return ok && v == rec.VersionID
	}
	if t, ok := httpTime(r.Header.Get("If-Modified-Since")); ok {
		return !rec.LastUpdated.Truncate(1e9).After(t)
	}
	return false
}
