package smart

import (
	"html/template"

	"github.com/labstack/echo/v4"
)

// The pages of the authorization flow: plain HTML forms, no script, so that
// they work in any browser and can be driven by a test's HTTP client.
const pagesHTML = `
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>TeleHub sign-in</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0}.error{color:#a00}</style></head><body>{{end}}

{{define "login"}}{{template "head"}}
<h1>Sign in</h1>
<p>{{.ClientName}} asks to access TeleHub on your behalf.</p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="req" value="{{.Request}}">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<label>One-time code (if your account has one) <input name="otp" inputmode="numeric" autocomplete="one-time-code"></label>
<button type="submit">Sign in</button>
</form>
{{if .FederationURL}}<p>or</p>
<p><a class="federated" href="{{.FederationURL}}">Sign in with {{.FederationName}}</a></p>{{end}}
</body></html>{{end}}

{{define "consent"}}{{template "head"}}
<h1>Allow access?</h1>
<p>Signed in as {{.UserName}}. {{.ClientName}} asks for:</p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .NeedPatient}}
<form method="get" action="{{.Action}}">
<input type="hidden" name="req" value="{{.Request}}">
<label>Find a patient <input name="q" value="{{.Query}}"></label>
<button type="submit">Search</button>
</form>
{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="req" value="{{.Request}}">
<fieldset><legend>Permissions</legend>
{{range .Scopes}}<label><input type="checkbox" name="scope" value="{{.}}" checked> {{.}}</label>
{{end}}</fieldset>
{{if .NeedPatient}}<fieldset><legend>Patient</legend>
{{range .Patients}}<label><input type="radio" name="patient" value="{{.ID}}" required> {{.Name}} {{.BirthDate}} {{.Gender}}</label>
{{else}}<p>No patient found.</p>{{end}}</fieldset>{{end}}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form></body></html>{{end}}

{{define "error"}}{{template "head"}}
<h1>The request cannot be processed</h1>
<p class="error">{{.}}</p></body></html>{{end}}
`

func parsePages() *template.Template {
	return template.Must(template.New("pages").Parse(pagesHTML))
}

// render answers one of the pages. The pages must not be framed nor cached
// (clickjacking of the consent, credentials in caches).
func (s *Server) render(c echo.Context, status int, page string, data any) error {
	h := c.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return s.pages.ExecuteTemplate(c.Response(), page, data)
}

// errorPage answers a request that cannot be sent back to the client (an
// unknown client, a redirect URI not registered).
func (s *Server) errorPage(c echo.Context, status int, msg string) error {
	return s.render(c, status, "error", msg)
}
