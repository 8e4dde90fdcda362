// Command fastdeal serves the sale API, migrates its database and replays
// load scenarios against it. See `fastdeal --help`.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := rootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fastdeal:", err)
		os.Exit(1)
	}
}
