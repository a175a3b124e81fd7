// Command fluxtar writes the tar+gzip stream that `flux push artifact` makes of a directory:
// github.com/fluxcd/pkg/tar's Tar (the function fluxcd/pkg/oci's Build calls), at the version the
// flux CLI v2.9.4 requires. test/engine/oci.test.ts compares our content layer with it byte for
// byte.
//
//	fluxtar DIR > layer.tar.gz
package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/fluxcd/pkg/tar"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fluxtar DIR")
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	if _, err := tar.Tar(os.Args[1], w); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
