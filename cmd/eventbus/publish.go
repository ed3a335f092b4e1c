package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eventbus-go/eventbus/bus"
)

type publishFlags struct {
	key, id, contentType, eventType, source, file string
	headers                                       []string
	lines                                         bool
}

func newPublishCommand(a *app) *cobra.Command {
	var f publishFlags
	cmd := &cobra.Command{
		Use:   "publish TOPIC [PAYLOAD...]",
		Short: "Publish messages: one per argument, or from a file or stdin",
		Long: `Publish sends one message per PAYLOAD argument. Without arguments it reads
--file, or stdin: the whole input is one message, or each line one message
with --lines. It prints how many messages the backend holds durably.`,
		Example: `  eventbus publish orders '{"id":1}' --key order-1 --content-type application/json
  eventbus publish orders --file order.json --header tenant=acme
  printf 'a\nb\n' | eventbus publish letters --lines`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("publish needs a TOPIC")
			}
			if len(args) > 1 && f.file != "" {
				return usagef("give payloads as arguments or --file, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			header, err := parseHeaders(f.headers)
			if err != nil {
				return err
			}
			payloads, err := f.payloads(a, args[1:])
			if err != nil {
				return err
			}
			msgs := make([]*bus.Message, len(payloads))
			for i, p := range payloads {
				msgs[i] = &bus.Message{ID: f.id, Key: f.key, Payload: p, Header: header}
				if len(payloads) > 1 {
					msgs[i].ID = "" // IDs are unique
				}
			}
			return a.withBus(cmd.Context(), func(b *bus.Bus) error {
				if err := b.Publish(cmd.Context(), args[0], msgs...); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "published %d message(s) to %s\n", len(msgs), args[0])
				return nil
			})
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&f.key, "key", "k", "", "the message key (ordering and partitioning)")
	flags.StringVar(&f.id, "id", "", "the message ID (CloudEvents id); default a new UUIDv7")
	flags.StringArrayVarP(&f.headers, "header", "H", nil, "a header as name=value; repeatable")
	flags.StringVarP(&f.contentType, "content-type", "t", "", "the payload's media type, e.g. application/json")
	flags.StringVar(&f.eventType, "type", "", "the CloudEvents type (ce_type)")
	flags.StringVar(&f.source, "source", "", "the CloudEvents source (ce_source)")
	flags.StringVarP(&f.file, "file", "f", "", "read the payload from this file ('-' for stdin)")
	flags.BoolVarP(&f.lines, "lines", "l", false, "one message per line of the file or stdin")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if f.contentType != "" {
			f.headers = append(f.headers, "content-type="+f.contentType)
		}
		if f.eventType != "" {
			f.headers = append(f.headers, "ce_type="+f.eventType)
		}
		if f.source != "" {
			f.headers = append(f.headers, "ce_source="+f.source)
		}
		return nil
	}
	return cmd
}

// payloads returns the messages' payloads: the arguments, or the file or
// stdin as one payload or one per line.
func (f *publishFlags) payloads(a *app, args []string) ([][]byte, error) {
	if len(args) > 0 {
		if f.lines {
			return nil, usagef("--lines reads a file or stdin, not arguments")
		}
		out := make([][]byte, len(args))
		for i, arg := range args {
			out[i] = []byte(arg)
		}
		return out, nil
	}
	var in io.Reader = a.stdin
	if f.file != "" && f.file != "-" {
		file, err := os.Open(f.file)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		in = file
	}
	if !f.lines {
		data, err := io.ReadAll(in)
		if err != nil {
			return nil, fmt.Errorf("read payload: %w", err)
		}
		return [][]byte{data}, nil
	}
	var out [][]byte
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 64<<10), 64<<20)
	for scanner.Scan() {
		out = append(out, append([]byte(nil), scanner.Bytes()...))
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read payloads: %w", err)
	}
	if len(out) == 0 {
		return nil, usagef("no lines to publish")
	}
	return out, nil
}

// parseHeaders turns name=value pairs into a header map.
func parseHeaders(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	h := make(map[string]string, len(pairs))
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, usagef("header %q is not name=value", p)
		}
		h[name] = value
	}
	return h, nil
}
