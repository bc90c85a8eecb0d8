//go:build ignore

// compose-config is `docker compose config` without Docker: deploy/validate.sh
// builds it (in a temporary module, against github.com/compose-spec/compose-go/v2,
// the loader Docker Compose itself uses) when neither docker-compose nor the
// docker compose plugin is installed. It loads the compose files with the
// options `docker compose config` passes that loader (cmd/compose/config.go
// and compose.go in github.com/docker/compose): interpolation, validation
// against the Compose Specification's JSON schema, normalization, path
// resolution, consistency checks (undefined services, networks, volumes,
// secrets, configs), env_file resolution and container-name unicity. Then it
// prints the resolved model as YAML, or nothing with -q; any error exits 1.
//
// The build tag keeps it out of this repository's module (go vet ./...,
// go test ./...): its dependency is not in go.mod.
//
//	compose-config [-f FILE]... [--project-directory DIR] [-p NAME] [--env-file FILE]... config [-q]
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: compose-config [-f FILE]... [--project-directory DIR] [-p NAME] [--env-file FILE]... config [-q]")
	os.Exit(2)
}

func main() {
	var files, envFiles []string
	var dir, name string
	quiet, sawConfig := false, false
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		flag, val, hasVal := strings.Cut(a, "=")
		next := func() string {
			if hasVal {
				return val
			}
			if i+1 >= len(args) {
				usage()
			}
			i++
			return args[i]
		}
		switch {
		case !sawConfig && (flag == "-f" || flag == "--file"):
			files = append(files, next())
		case !sawConfig && flag == "--project-directory":
			dir = next()
		case !sawConfig && (flag == "-p" || flag == "--project-name"):
			name = next()
		case !sawConfig && flag == "--env-file":
			envFiles = append(envFiles, next())
		case !sawConfig && a == "config":
			sawConfig = true
		case sawConfig && (a == "-q" || a == "--quiet"):
			quiet = true
		default:
			usage()
		}
	}
	if !sawConfig {
		usage()
	}
	if envFiles == nil {
		// docker compose's --env-file default.
		envFiles = strings.FieldsFunc(os.Getenv("COMPOSE_ENV_FILES"), func(c rune) bool { return c == ',' })
	}
	if err := run(files, envFiles, dir, name, quiet); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(files, envFiles []string, dir, name string, quiet bool) error {
	ctx := context.Background()
	fns := []cli.ProjectOptionsFn{
		// docker compose config's own options (cmd/compose/config.go).
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithDefaultProfiles(),
		cli.WithDiscardEnvFile,
		// Then the project options every command gets (cmd/compose/compose.go).
		cli.WithWorkingDirectory(dir),
		cli.WithOsEnv,
	}
	if _, ok := os.LookupEnv("PWD"); !ok {
		if pwd, err := os.Getwd(); err == nil {
			fns = append(fns, cli.WithEnv([]string{"PWD=" + pwd}))
		}
	}
	fns = append(fns,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
		cli.WithName(name),
	)
	opts, err := cli.NewProjectOptions(files, fns...)
	if err != nil {
		return err
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		return err
	}
	if project.Name == "" {
		return fmt.Errorf("project name can't be empty")
	}
	if project, err = project.WithServicesEnabled(); err != nil {
		return err
	}
	if project, err = project.WithSelectedServices(nil); err != nil {
		return err
	}
	project = project.WithoutUnnecessaryResources()
	if project, err = project.WithServicesEnvironmentResolved(true); err != nil {
		return err
	}
	if err := project.CheckContainerNameUnicity(); err != nil {
		return err
	}
	out, err := project.MarshalYAML()
	if err != nil {
		return err
	}
	if quiet {
		return nil
	}
	_, err = os.Stdout.Write(bytes.ReplaceAll(out, []byte("$"), []byte("$$")))
	return err
}
