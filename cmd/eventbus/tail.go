package main

import (
	"context"
	"errors"
	"sync"

	"github.com/spf13/cobra"

	"github.com/eventbus-go/eventbus/bus"
)

func newTailCommand(a *app) *cobra.Command {
	var (
		group     string
		fromStart bool
		jsonLines bool
		limit     int
	)
	cmd := &cobra.Command{
		Use:   "tail TOPIC",
		Short: "Follow a topic and print its messages",
		Long: `Tail prints the messages of a topic as they arrive, until interrupted.

Without --group it joins no group and commits nothing: it starts at the end
of the topic, or with --from-start at its oldest message. With --group it is
a member of that group: it gets its share of the messages, from where the
group stands, and acknowledges them (they count as handled).`,
		Example: `  eventbus tail orders
  eventbus tail orders --from-start --json | jq .data
  eventbus tail orders --group audit`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usagef("--max must not be negative")
			}
			if group != "" && fromStart {
				return usagef("--from-start goes without --group: a group starts where it stands")
			}
			out := printer{w: a.stdout, jsonLines: jsonLines}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			var mu sync.Mutex
			printed := 0
			show := func(m *bus.Message) error {
				mu.Lock()
				defer mu.Unlock()
				if limit > 0 && printed >= limit {
					// Not printed, so not handled: a group gets it
					// again.
					mu.Unlock()
					<-ctx.Done()
					mu.Lock()
					return ctx.Err()
				}
				if err := out.print(m); err != nil {
					return err
				}
				if printed++; limit > 0 && printed == limit {
					cancel()
				}
				return nil
			}
			return a.withBus(ctx, func(b *bus.Bus) error {
				var err error
				switch {
				case fromStart:
					err = b.ReadTopic(ctx, args[0], true, show)
				default:
					err = subscribeUntilDone(ctx, b, args[0], group, show)
				}
				if errors.Is(err, context.Canceled) && cmd.Context().Err() == nil {
					return nil // --max reached
				}
				return err
			})
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&group, "group", "g", "", "consume as a member of this group")
	flags.BoolVar(&fromStart, "from-start", false, "start at the oldest message instead of the end")
	flags.BoolVar(&jsonLines, "json", false, "print one JSON object per line")
	flags.IntVarP(&limit, "max", "n", 0, "stop after this many messages (0: no limit)")
	return cmd
}

// subscribeUntilDone subscribes (ephemerally without a group) and returns
// when ctx is done or the subscription fails.
func subscribeUntilDone(ctx context.Context, b *bus.Bus, topic, group string, show func(*bus.Message) error) error {
	var opts []bus.SubscribeOption
	if group != "" {
		opts = append(opts, bus.Group(group))
	}
	sub, err := b.Subscribe(ctx, topic, func(_ context.Context, m *bus.Message) error { return show(m) }, opts...)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		<-sub.Done()
		return ctx.Err()
	case <-sub.Done():
		return sub.Err()
	}
}
