// Package deploy holds the container, compose and Kubernetes files; its
// only Go code is the drift test that parses every file here and checks the
// ports, paths, environment variables, config keys and metric names they
// use against the code.
package deploy
