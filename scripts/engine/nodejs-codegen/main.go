// Command mlws-nodejs-codegen generates a Node.js (TypeScript) SDK from a Pulumi package schema
// with upstream's Node.js code generator (github.com/pulumi/pulumi/pkg/v3/codegen/nodejs), for
// mlws's own Node.js language host, whose GeneratePackage runs it (docs/engine.md).
//
// It reads one pulumirpc.GeneratePackageRequest (protobuf) on stdin, writes the SDK's files into
// the request's directory, and writes a pulumirpc.GeneratePackageResponse on stdout. Errors go to
// stderr with exit status 1.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/pulumi/pulumi/pkg/v3/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/proto"
)

func generate(req *pulumirpc.GeneratePackageRequest) (*pulumirpc.GeneratePackageResponse, error) {
	loader, err := schema.NewLoaderClient(req.LoaderTarget)
	if err != nil {
		return nil, fmt.Errorf("connecting to the engine's schema loader: %w", err)
	}
	defer loader.Close()

	var spec schema.PackageSpec
	if err := json.Unmarshal([]byte(req.Schema), &spec); err != nil {
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	cached := schema.NewCachedLoader(loader)
	pkg, diags, err := schema.BindSpec(spec, cached, schema.ValidationOptions{AllowDanglingReferences: true})
	if err != nil {
		return nil, fmt.Errorf("binding the schema: %w", err)
	}
	response := &pulumirpc.GeneratePackageResponse{Diagnostics: plugin.HclDiagnosticsToRPCDiagnostics(diags)}
	if diags.HasErrors() {
		return response, nil
	}
	files, err := nodejs.GeneratePackage(
		"pulumi-language-nodejs", pkg, req.ExtraFiles, req.LocalDependencies, req.Local, cached)
	if err != nil {
		return nil, fmt.Errorf("generating the Node.js SDK: %w", err)
	}
	for name, data := range files {
		path := filepath.Join(req.Directory, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
	}
	return response, nil
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mlws-nodejs-codegen: reading the request: %v\n", err)
		os.Exit(1)
	}
	var req pulumirpc.GeneratePackageRequest
	if err := proto.Unmarshal(input, &req); err != nil {
		fmt.Fprintf(os.Stderr, "mlws-nodejs-codegen: the request is not a GeneratePackageRequest: %v\n", err)
		os.Exit(1)
	}
	response, err := generate(&req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mlws-nodejs-codegen: %v\n", err)
		os.Exit(1)
	}
	output, err := proto.Marshal(response)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mlws-nodejs-codegen: %v\n", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(output); err != nil {
		os.Exit(1)
	}
}
