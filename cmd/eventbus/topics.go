package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventbus-go/eventbus/bus"
)

func newTopicsCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "List, create and describe topics",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listTopics(a, cmd)
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the topics",
		Args:  exactArgs(0),
		RunE:  func(cmd *cobra.Command, _ []string) error { return listTopics(a, cmd) },
	}
	var partitions int
	create := &cobra.Command{
		Use:     "create TOPIC",
		Short:   "Create a topic",
		Example: `  eventbus topics create orders --partitions 6`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if partitions < 0 {
				return usagef("--partitions must not be negative")
			}
			return a.withBus(cmd.Context(), func(b *bus.Bus) error {
				if err := b.CreateTopic(cmd.Context(), args[0], partitions); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "created %s\n", args[0])
				return nil
			})
		},
	}
	create.Flags().IntVarP(&partitions, "partitions", "p", 1, "partitions (1: the backend's unpartitioned kind where it has one)")
	describe := &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Describe a topic",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withBus(cmd.Context(), func(b *bus.Bus) error {
				t, err := b.DescribeTopic(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "topic:      %s\npartitions: %s\n", t.Name, partitionsText(t.Partitions))
				return nil
			})
		},
	}
	cmd.AddCommand(list, create, describe)
	return cmd
}

func listTopics(a *app, cmd *cobra.Command) error {
	return a.withBus(cmd.Context(), func(b *bus.Bus) error {
		topics, err := b.Topics(cmd.Context())
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TOPIC\tPARTITIONS")
		for _, t := range topics {
			fmt.Fprintf(w, "%s\t%s\n", t.Name, partitionsText(t.Partitions))
		}
		return w.Flush()
	})
}

func partitionsText(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func newLagCommand(a *app) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "lag TOPIC --group GROUP",
		Short: "Show what a group has not consumed of a topic, per partition",
		Long: `Lag shows, per partition, how many messages the group has not acknowledged
and how long the oldest of them has waited. It needs no running member.`,
		Example: `  eventbus lag orders --group billing`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if group == "" {
				return usagef("lag needs --group")
			}
			return a.withBus(cmd.Context(), func(b *bus.Bus) error {
				lags, err := b.GroupLag(cmd.Context(), group, args[0])
				if err != nil {
					return err
				}
				now := time.Now()
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(w, "PARTITION\tMESSAGES\tOLDEST WAITING\t")
				var total int64
				var oldest time.Duration
				for _, l := range lags {
					total += l.Messages
					oldest = max(oldest, l.Age(now))
					part := "-"
					if l.Partition >= 0 {
						part = fmt.Sprint(l.Partition)
					}
					fmt.Fprintf(w, "%s\t%d\t%s\t\n", part, l.Messages, l.Age(now).Round(time.Millisecond))
				}
				fmt.Fprintf(w, "total\t%d\t%s\t\n", total, oldest.Round(time.Millisecond))
				return w.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&group, "group", "g", "", "the consumer group")
	return cmd
}
