// Package toxiproxycmd is toxiproxy's own server (the main of
// github.com/Shopify/toxiproxy/v2/cmd/server at the pinned v2.12.0,
// reproduced here with the same flags and behaviour) plus gitchaos's extra
// toxics registered before the server starts. cmd/toxiproxy-server is this
// command alone; `gitchaos toxiproxy-server` is the same inside the
// multi-call gitchaos binary, which is the entrypoint of the
// gitchaos-toxiproxy image (harness/dockerimg), built statically with
// CGO_ENABLED=0.
package toxiproxycmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/log"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
)

type cliArguments struct {
	host           string
	port           string
	config         string
	seed           int64
	printVersion   bool
	proxyMetrics   bool
	runtimeMetrics bool
}

func parseArguments(args []string, stderr io.Writer) (cliArguments, error) {
	result := cliArguments{}
	flag := flag.NewFlagSet("toxiproxy-server", flag.ContinueOnError)
	flag.SetOutput(stderr)
	flag.StringVar(&result.host, "host", "localhost",
		"Host for toxiproxy's API to listen on")
	flag.StringVar(&result.port, "port", "8474",
		"Port for toxiproxy's API to listen on")
	flag.StringVar(&result.config, "config", "",
		"JSON file containing proxies to create on startup")
	flag.Int64Var(&result.seed, "seed", time.Now().UTC().UnixNano(),
		"Seed for randomizing toxics with")
	flag.BoolVar(&result.runtimeMetrics, "runtime-metrics", false,
		`enable runtime-related prometheus metrics (default "false")`)
	flag.BoolVar(&result.proxyMetrics, "proxy-metrics", false,
		`enable toxiproxy-specific prometheus metrics (default "false")`)
	flag.BoolVar(&result.printVersion, "version", false,
		`print the version (default "false")`)
	if err := flag.Parse(args); err != nil {
		return result, err
	}
	if flag.NArg() > 0 {
		return result, fmt.Errorf("unexpected arguments %q (all options are flags)", flag.Args())
	}
	return result, nil
}

// Run runs the server with the command line args until ctx is done (the
// commands cancel it on SIGINT or SIGTERM); it returns the exit status: 0,
// 1 on a runtime error, 2 on bad flags. Logs go to stdout as upstream's.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cli, err := parseArguments(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "toxiproxy-server: %v\n", err)
		}
		return 2
	}
	if err := run(ctx, cli, stdout); err != nil {
		fmt.Fprintf(stdout, "error: %v", err)
		return 1
	}
	return 0
}

// setVersion makes toxiproxy report the module version it was built from
// (upstream's release builds set it with -ldflags; `go build` leaves "git").
func setVersion() {
	if toxiproxy.Version != "git" {
		return
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/Shopify/toxiproxy/v2" {
			toxiproxy.Version = strings.TrimPrefix(d.Version, "v")
		}
	}
}

func run(ctx context.Context, cli cliArguments, stdout io.Writer) error {
	setVersion()

	if cli.printVersion {
		fmt.Fprintf(stdout, "toxiproxy-server version %s (gitchaos build: %s)\n", toxiproxy.Version, extraToxics())
		return nil
	}

	registerExtraToxics()

	rand.New(rand.NewSource(cli.seed)) // #nosec G404 -- as upstream

	logger := setupLogger(stdout)
	log.Logger = logger

	logger.
		Info().
		Str("version", toxiproxy.Version).
		Str("extra_toxics", extraToxics()).
		Msg("Starting Toxiproxy")

	metrics := toxiproxy.NewMetricsContainer(prometheus.NewRegistry())
	server := toxiproxy.NewServer(metrics, logger)
	if cli.proxyMetrics {
		server.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	}
	if cli.runtimeMetrics {
		server.Metrics.RuntimeMetrics = collectors.NewRuntimeMetricCollectors()
	}

	if len(cli.config) > 0 {
		server.PopulateConfig(cli.config)
	}

	addr := net.JoinHostPort(cli.host, cli.port)
	go func(server *toxiproxy.ApiServer, addr string) {
		err := server.Listen(addr)
		if err != nil {
			server.Logger.Err(err).Msg("Server finished with error")
		}
	}(server, addr)

	<-ctx.Done()
	server.Logger.Info().Msg("Shutdown started")
	err := server.Shutdown()
	if err != nil {
		logger.Err(err).Msg("Shutdown finished with error")
	}
	return nil
}

func setupLogger(stdout io.Writer) zerolog.Logger {
	zerolog.TimestampFunc = func() time.Time {
		return time.Now().UTC()
	}

	zerolog.CallerMarshalFunc = func(pc uintptr, file string, line int) string {
		short := file
		for i := len(file) - 1; i > 0; i-- {
			if file[i] == '/' {
				short = file[i+1:]
				break
			}
		}
		file = short
		return file + ":" + strconv.Itoa(line)
	}

	logger := zerolog.New(stdout).With().Caller().Timestamp().Logger()

	val, ok := os.LookupEnv("LOG_LEVEL")
	if !ok {
		return logger
	}

	lvl, err := zerolog.ParseLevel(val)
	if err == nil {
		logger = logger.Level(lvl)
	} else {
		l := &logger
		l.Err(err).Msgf("unknown LOG_LEVEL value: \"%s\"", val)
	}

	return logger
}
