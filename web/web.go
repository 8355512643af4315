// Package web is TeleHub's consultation web app: plain HTML, CSS and
// JavaScript modules embedded in the binary and served at /app/, with no
// build step. The app signs in through TeleHub's own SMART authorization
// server as the public client "telehub-web" (authorization code with PKCE
// S256, redirect URI <base>/app/), lists the signed-in professional's or
// patient's appointments and encounters of the day through the FHIR API, and
// runs the video room over the signaling relay (package signaling): camera
// and microphone, screen sharing, chat over an RTCDataChannel, a photo taken
// from the video or a document attached to the Encounter (stored as a FHIR
// Media or DocumentReference), and the end of the session.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

//go:embed static
var static embed.FS

// ClientID is the web app's SMART client id.
const ClientID = "telehub-web"

// RedirectPath is the path of the app's redirect URI: register
// <public base URL> + RedirectPath for ClientID.
const RedirectPath = "/app/"

// Scopes are every scope the app may ask for: register them all for
// ClientID. A professional signs in with the user/ scopes, a patient with
// the patient/ ones.
var Scopes = []string{
	"openid", "fhirUser", "profile",
	"user/Encounter.rs", "user/Appointment.rs", "user/Patient.rs", "user/Practitioner.rs",
	"user/Media.c", "user/DocumentReference.c",
	"patient/Encounter.rs", "patient/Appointment.rs", "patient/Patient.r",
	"patient/Media.c", "patient/DocumentReference.c",
}

// contentSecurityPolicy keeps the app to its own origin: its scripts, the
// FHIR API, the signaling WebSocket; media and photos from blob: and data:.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the app's files; mount it at /app/ (it strips the prefix).
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/app", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // the redirect carries the code in its query
		h.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
		if r.URL.Path == "/app/" || strings.HasSuffix(r.URL.Path, ".html") {
			h.Set("Cache-Control", "no-store")
		}
		files.ServeHTTP(w, r)
	})
}

// Mount serves the app at /app/ (and redirects /app there).
func Mount(e *echo.Echo) {
	h := echo.WrapHandler(Handler())
	e.GET("/app", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, RedirectPath) })
	e.GET("/app/*", h)
	e.HEAD("/app/*", h)
}
