package adapters_test

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestVendorSpecsUnchanged checks that the vendor API descriptions in
// testdata/vendorspecs are present and byte for byte the published files
// their README names (by Git blob id, which is how the sources were
// recorded), so the adapters' spec tests run against the vendors' own text.
func TestVendorSpecsUnchanged(t *testing.T) {
	want := map[string]string{
		"frontier-v0.90.0-apidocs.swagger.yaml":  "a433b68332fe3afa6f546d655477ee27decbae03",
		"commvault-v4-openapi3.yaml":             "c995cc0c03eee8a981f3a996bc0346729315c1f6",
		"volterra-user-setting.ves-swagger.json": "e0fac9f09464e2dc3e3eadca5b7d6450777f7bad",
		"volterra-user.ves-swagger.json":         "1a7865c8b730095c22e5a97013b10613587e312a",
	}
	for name, blob := range want {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "vendorspecs", name))
			if err != nil {
				t.Fatalf("vendor spec missing: %v", err)
			}
			h := sha1.New()
			fmt.Fprintf(h, "blob %d\x00", len(b))
			h.Write(b)
			if got := hex.EncodeToString(h.Sum(nil)); got != blob {
				t.Errorf("blob %s, want %s: the file is not the published one", got, blob)
			}
		})
	}
}
