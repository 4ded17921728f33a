// Package config loads and validates gateway.yaml (README.md, Configuration;
// docs/operations.md).
//
// Load decodes the file strictly (unknown keys are errors), expands ${VAR}
// and ${VAR:-default} from the environment on parsed scalar values (so a
// value can never inject YAML structure), refuses literal secrets (vendor
// passwords and tokens must be ${VAR} references), and validates every
// section, naming the key of each problem:
//
//	vendors.akana.base_url: must be an absolute http(s) URL
//
// Each vendor's own block (vendors.<name>.settings) stays a yaml.Node here and
// is decoded by the wiring into the adapter's Config, so this package never
// imports an adapter.
package config
