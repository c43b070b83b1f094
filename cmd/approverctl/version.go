package main

import (
	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/version"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print approverctl's version, the commit it was built from and its Go version",
		Long: `Print approverctl's version, the commit it was built from and the Go version
that built it, as --version does; --output json gives them as fields.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := version.Get()
			return a.show(view{JSON: info, Notes: []string{"approverctl " + info.String()}})
		},
	}
}
