// Package assets embeds the files the browser loads: CSS, JavaScript,
// images, and htmx (vendored from npm by scripts/vendor-assets.sh).
package assets

import (
	"embed"
	"net/http"
)

//go:embed css js img vendor
var files embed.FS

// Handler serves the embedded files. They change only with the binary, so
// browsers may keep them for a while.
func Handler() http.Handler {
	fs := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fs.ServeHTTP(w, r)
	})
}
