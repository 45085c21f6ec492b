package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/server"
	"github.com/ganstudio/ganstudio/store"
)

// studioFlags are where a studio keeps its things: --data (this machine's
// folder), --database and --blobs, each defaulting to its environment
// variable (for service managers) and then to the embedded studio in the
// data folder.
type studioFlags struct{ data, database, blobs *string }

func addStudioFlags(fs *flag.FlagSet, dataUsage string) studioFlags {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	return studioFlags{
		data: fs.String("data", env("GANSTUDIO_DATA", "data"), dataUsage+" ($GANSTUDIO_DATA)"),
		database: fs.String("database", env("GANSTUDIO_DATABASE", ""),
			"the database: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB (default: sqlite in the data folder; $GANSTUDIO_DATABASE)"),
		blobs: fs.String("blobs", env("GANSTUDIO_BLOBS", ""),
			"images, samples and checkpoints: dir:PATH or s3://BUCKET/PREFIX?endpoint=https://HOST (keys from $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY; default: the data folder's blobs/; $GANSTUDIO_BLOBS)"),
	}
}

func (f studioFlags) config() store.Config {
	return store.Config{Dir: *f.data, Database: *f.database, Blobs: *f.blobs}
}

// openStudio opens the studio, lists the built-in datasets in it and makes
// the job queue, working the runs of device if work.
func openStudio(ctx context.Context, cfg store.Config, work bool, staleAfter time.Duration, device string) (*store.Store, *jobs.Queue, error) {
	st, err := store.OpenConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if sw := st.Swept; sw.Datasets > 0 || sw.TempFiles > 0 {
		slog.Info("removed what killed processes left unfinished", "imports", sw.Datasets,
			"temporary_files", sw.TempFiles, "temporary_mb", float64(sw.TempBytes)/(1<<20))
	}
	if st.Swept.TempError != "" {
		slog.Warn("could not remove every leftover temporary file", "err", st.Swept.TempError)
	}
	for _, name := range datasets.BuiltinNames {
		// Recorded at the largest side it comes at: runs may ask for any
		// side up to it.
		most, err := datasets.BuiltinMaxRes(name)
		var ds *datasets.Dataset
		if err == nil {
			ds, err = datasets.Builtin(name, 32)
		}
		if err == nil {
			_, err = st.EnsureBuiltin(ctx, name, most, ds.Len())
		}
		if err != nil {
			st.Close()
			return nil, nil, fmt.Errorf("built-in dataset %s: %w", name, err)
		}
	}
	q, err := jobs.New(ctx, st, jobs.Options{Work: work, Device: device, StaleAfter: staleAfter})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, q, nil
}

// serveCmd runs the studio: the web server and, unless told not to, a
// worker in the same process.
func serveCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen on HOST:PORT (0.0.0.0:8080 to let other machines in)")
	studio := addStudioFlags(fs, "data folder: by default the database and every image, sample and checkpoint; always temporary files")
	noWorker := fs.Bool("no-worker", false, "serve only; leave training to 'ganstudio worker' processes")
	maxUpload := fs.Int64("max-upload-mb", 1024, "largest upload accepted, in MB")
	decodeMB := fs.Int64("decode-memory-mb", datasets.DefaultDecodeMemory>>20, "memory that decoding uploaded images may take at once, in MB (an image that needs more decodes alone)")
	maxImports := fs.Int("max-imports", server.DefaultOptions().MaxImports, "uploads prepared at once; more wait their turn, then get 503")
	stale := fs.Duration("stale-after", jobs.DefaultStaleAfter, "resume a run elsewhere once its worker has been silent this long")
	var hosts places
	fs.Var(&hosts, "host", "a host name people reach the studio by (repeatable); with it, requests for other names are refused")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	tlsKey := fs.String("tls-key", "", "the certificate's private key (PEM)")
	var proxies places
	fs.Var(&proxies, "trusted-proxy", "a reverse proxy's address or CIDR (repeatable) whose X-Forwarded-For and X-Forwarded-Proto are believed")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	trusted, err := parseCIDRs(proxies)
	if err != nil {
		return err
	}
	if *decodeMB < 64 || *maxImports < 1 {
		return fmt.Errorf("--decode-memory-mb must be at least 64 and --max-imports at least 1")
	}
	// The studio's own worker trains on the CPU; GPUs get workers of their own.
	st, q, err := openStudio(ctx, studio.config(), !*noWorker, *stale, spec.CPU)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := q.Start(ctx); err != nil {
		return err
	}
	datasets.SetDecodeMemory(*decodeMB << 20)
	opts := server.DefaultOptions()
	opts.MaxUpload = *maxUpload << 20
	opts.MaxImports = *maxImports
	opts.TrustedProxies = trusted
	switch {
	case len(hosts) > 0:
		opts.AllowedHosts = append(append([]string{}, hosts...), server.LoopbackHosts...)
	case !loopback(*addr):
		opts.AllowedHosts = nil // reachable by other names on purpose
	}
	// Reachable from other machines: nobody in without an account, even
	// before the first is made.
	opts.RequireSignIn = !loopback(*addr)
	// Requests live in base, which shutdown cancels: live streams end at
	// once instead of holding the shutdown to its timeout.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{Handler: server.New(st, q, opts), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	srv.RegisterOnShutdown(cancelBase)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		q.Stop(context.Background())
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	scheme := "http://"
	if *tlsCert != "" {
		scheme = "https://"
	}
	slog.Info("GAN Studio is ready", "url", scheme+ln.Addr().String(), "sign_in_required", opts.RequireSignIn, "studio", st.Where(), "worker", !*noWorker, "blas", gan.BLASName)
	errc := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			errc <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err = <-errc:
	case <-ctx.Done():
		slog.Info("shutting down: saving checkpoints of running runs")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if qerr := q.Stop(context.Background()); qerr != nil {
		slog.Warn("stopping the worker", "err", qerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// workerCmd trains queued runs from the same data folder as a studio.
func workerCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	studio := addStudioFlags(fs, "the studio's data folder (shared with 'ganstudio serve'), or with --database and --blobs this machine's own: temporary files and a cache")
	stale := fs.Duration("stale-after", jobs.DefaultStaleAfter, "resume a run elsewhere once its worker has been silent this long")
	device := fs.String("device", defaultWorkerDevice(), deviceUsage("train the runs made for this device, on it"))
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	// Before anything else: a GPU that cannot be opened stops the worker
	// here, not at its first run.
	if err := useDevice(*device); err != nil {
		return err
	}
	st, q, err := openStudio(ctx, studio.config(), true, *stale, *device)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := q.Start(ctx); err != nil {
		return err
	}
	if info := gan.DeviceInfo(); info != "" {
		slog.Info("worker ready", "id", q.WorkerID(), "device", gan.DeviceName(), "gpu", info, "studio", st.Where())
	} else {
		slog.Info("worker ready", "id", q.WorkerID(), "device", gan.DeviceName(), "studio", st.Where(), "blas", gan.BLASName)
	}
	select {
	case <-ctx.Done():
		slog.Info("worker stopping: saving checkpoints of running runs")
		return q.Stop(context.Background())
	case err := <-q.Lost():
		// Nothing more can train here; a supervisor (systemd, a loop)
		// restarts the worker with a fresh device.
		slog.Error("worker stopping: its device is lost", "err", err)
		q.Stop(context.Background())
		return fmt.Errorf("the device is lost; restart the worker: %w", err)
	}
}

// parseCIDRs reads --trusted-proxy values: addresses or CIDR ranges.
func parseCIDRs(vals []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, given := range vals {
		v := given
		if !strings.Contains(v, "/") {
			if ip := net.ParseIP(v); ip != nil && ip.To4() != nil {
				v += "/32"
			} else {
				v += "/128"
			}
		}
		_, n, err := net.ParseCIDR(v)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy %q: an address or a CIDR range such as 10.0.0.0/8", given)
		}
		out = append(out, n)
	}
	return out, nil
}

// loopback reports whether addr listens on this machine's loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
