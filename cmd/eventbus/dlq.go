package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/eventbus-go/eventbus/bus"
)

// filterFlags select dead letters.
type filterFlags struct {
	errorText, key, since, until string
	ids                          []string
}

func (f *filterFlags) add(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.StringVarP(&f.errorText, "error", "e", "", "only letters whose error contains this text")
	flags.StringVarP(&f.key, "key", "k", "", "only letters with this key")
	flags.StringArrayVar(&f.ids, "id", nil, "only the letter with this ID; repeatable")
	flags.StringVar(&f.since, "since", "", "only letters that last failed at or after this time (RFC 3339, or a duration ago such as 2h)")
	flags.StringVar(&f.until, "until", "", "only letters that last failed before this time (RFC 3339, or a duration ago)")
}

func (f *filterFlags) filter(now time.Time) (bus.DeadLetterFilter, error) {
	out := bus.DeadLetterFilter{ErrorContains: f.errorText, Key: f.key, IDs: f.ids}
	var err error
	if out.Since, err = parseWhen(f.since, now); err != nil {
		return out, usagef("--since: %v", err)
	}
	if out.Until, err = parseWhen(f.until, now); err != nil {
		return out, usagef("--until: %v", err)
	}
	return out, nil
}

// parseWhen reads an RFC 3339 time, or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}

func newDLQCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, show and replay dead letters",
		Long: `Dead-letter topics hold the messages a subscription gave up on, with
eventbus-dlq-* headers that say why (see the README). A subscription's
dead-letter topic is <topic>.<group>.dlq unless it named another.`,
	}
	cmd.AddCommand(newDLQListCommand(a), newDLQShowCommand(a), newDLQReplayCommand(a))
	return cmd
}

func newDLQListCommand(a *app) *cobra.Command {
	var (
		f         filterFlags
		limit     int
		jsonLines bool
	)
	cmd := &cobra.Command{
		Use:     "list DEAD_LETTER_TOPIC",
		Short:   "List dead letters with why they failed",
		Example: `  eventbus dlq list orders.billing.dlq --error timeout --since 24h`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := f.filter(time.Now())
			if err != nil {
				return err
			}
			return a.withBus(cmd.Context(), func(b *bus.Bus) error {
				letters, err := b.DeadLetters(cmd.Context(), args[0], filter, limit)
				if err != nil {
					return err
				}
				if jsonLines {
					out := printer{w: a.stdout, jsonLines: true}
					for _, d := range letters {
						if err := out.print(d.Message); err != nil {
							return err
						}
					}
					return nil
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tKEY\tLAST FAILURE\tATTEMPTS\tTOPIC\tERROR")
				for _, d := range letters {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Key, d.LastFailure.UTC().Format(time.RFC3339),
						d.Attempts, d.OriginalTopic, firstLine(d.Error, 60))
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%d dead letter(s)\n", len(letters))
				return nil
			})
		},
	}
	f.add(cmd)
	cmd.Flags().IntVarP(&limit, "max", "n", 0, "list at most this many (0: all)")
	cmd.Flags().BoolVar(&jsonLines, "json", false, "print one JSON object per line")
	return cmd
}

// firstLine is the first line of s, cut to at most n characters.
func firstLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		s, cut = string(r[:n]), true
	}
	if cut {
		s += "…"
	}
	return s
}

func newDLQShowCommand(a *app) *cobra.Command {
	var jsonLines bool
	cmd := &cobra.Command{
		Use:     "show DEAD_LETTER_TOPIC ID",
		Short:   "Show one dead letter: every header and the payload",
		Example: `  eventbus dlq show orders.billing.dlq 0192f7c8-...`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withBus(cmd.Context(), func(b *bus.Bus) error {
				letters, err := b.DeadLetters(cmd.Context(), args[0], bus.DeadLetterFilter{IDs: args[1:2]}, 1)
				if err != nil {
					return err
				}
				if len(letters) == 0 {
					return fmt.Errorf("no dead letter with ID %q in %s", args[1], args[0])
				}
				return printer{w: a.stdout, jsonLines: jsonLines}.print(letters[0].Message)
			})
		},
	}
	cmd.Flags().BoolVar(&jsonLines, "json", false, "print it as one JSON object")
	return cmd
}

func newDLQReplayCommand(a *app) *cobra.Command {
	var (
		f    filterFlags
		to   string
		rate float64
	)
	cmd := &cobra.Command{
		Use:   "replay DEAD_LETTER_TOPIC",
		Short: "Send dead letters back to their topic",
		Long: `Replay publishes the selected dead letters to the topic they failed on (or
--to), without their eventbus-dlq-* headers but with their ID, so a Dedup
store recognises what it handled before. It notes each replayed letter in
<dead-letter topic>.replayed: run it again after an interruption and it
sends only what it had not sent.`,
		Example: `  eventbus dlq replay orders.billing.dlq --error "connection refused" --rate 20
  eventbus dlq replay orders.billing.dlq --id 0192f7c8-... --to orders-retry`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := f.filter(time.Now())
			if err != nil {
				return err
			}
			if rate < 0 {
				return usagef("--rate must not be negative")
			}
			opts := bus.ReplayOptions{Filter: filter, To: to, Rate: rate}
			var bar *progressbar.ProgressBar
			if isatty.IsTerminal(a.stderr.Fd()) {
				opts.Progress = func(done, selected int) {
					if bar == nil {
						bar = progressbar.NewOptions(selected, progressbar.OptionSetWriter(a.stderr),
							progressbar.OptionSetDescription("replaying"), progressbar.OptionShowCount(),
							progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
					}
					_ = bar.Set(done)
				}
			}
			return a.withBus(cmd.Context(), func(b *bus.Bus) error {
				report, err := b.ReplayDeadLetters(cmd.Context(), args[0], opts)
				if bar != nil {
					_ = bar.Finish()
				}
				fmt.Fprintf(a.stdout, "selected %d, replayed %d, already replayed before %d\n",
					report.Selected, report.Replayed, report.AlreadyReplayed)
				return err
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "replay to this topic instead of each letter's original one")
	cmd.Flags().Float64Var(&rate, "rate", 0, "at most this many messages per second (0: no limit)")
	return cmd
}
