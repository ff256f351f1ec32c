package docker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/gitchaos/gitchaos/harness/dockerimg"
)

var envOnce sync.Once

// setEnv disables Ryuk (it would have to be pulled) and fixes the host
// address testcontainers guesses wrongly inside a container, unless the
// user set them. It must run before the first testcontainers call.
func setEnv() {
	envOnce.Do(func() {
		for k, v := range map[string]string{
			"TESTCONTAINERS_RYUK_DISABLED":  "true",
			"TESTCONTAINERS_HOST_OVERRIDE":  "localhost",
			"TESTCONTAINERS_RYUK_VERBOSE":   "false",
			"TESTCONTAINERS_HUB_IMAGE_NAME": "",
		} {
			if v == "" {
				continue
			}
			if _, ok := os.LookupEnv(k); !ok {
				os.Setenv(k, v)
			}
		}
		// testcontainers logs every container step to stderr: route it to
		// slog at debug level instead.
		tclog.SetDefault(debugLogger{})
	})
}

// debugLogger passes testcontainers' log lines to slog.Default at debug level.
type debugLogger struct{}

func (debugLogger) Printf(format string, v ...any) {
	slog.Debug("testcontainers: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// Client returns a docker client (API version negotiated) or an error
// wrapping ErrNoEngine when no engine answers. Close it after use.
func Client(ctx context.Context) (*testcontainers.DockerClient, error) {
	setEnv()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker testbed: %w: %w (start Docker, set DOCKER_HOST, or use the local testbed)", ErrNoEngine, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, clientPingOptions()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker testbed: %w: ping: %w (start Docker, set DOCKER_HOST, or use the local testbed)", ErrNoEngine, err)
	}
	return cli, nil
}

// EnsureImages builds the two images when missing and returns their refs.
func EnsureImages(ctx context.Context, logger *slog.Logger) (dockerimg.Refs, error) {
	cli, err := Client(ctx)
	if err != nil {
		return dockerimg.Refs{}, err
	}
	defer cli.Close()
	return dockerimg.Ensure(ctx, dockerimg.Options{Client: cli.Client, Logger: logger})
}
