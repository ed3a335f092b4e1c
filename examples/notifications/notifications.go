package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/bus/middleware"
	"github.com/eventbus-go/eventbus/examples/internal/example"
	"github.com/eventbus-go/eventbus/examples/internal/exampledb"
	"github.com/eventbus-go/eventbus/examples/internal/story"
	pb "github.com/eventbus-go/eventbus/examples/notifications/notificationspb"
	"github.com/eventbus-go/eventbus/outbox"
)

// Outcome is how a run ended.
type Outcome struct {
	// Sent counts the emails the mail server sent, by request ID.
	Sent map[string]int
	// Confirmed holds the EmailSent replies the shop received, by request ID.
	Confirmed map[string]*pb.EmailSent
	// Duplicates lists the request IDs of deliveries the mail service
	// recognised as already handled.
	Duplicates []string
	// SkippedAfterRestart lists those the restarted mail service
	// recognised, which it knew only from the database.
	SkippedAfterRestart []string
}

// The emails the shop asks for.
var requests = []*pb.SendEmail{
	{RequestId: "req-1", To: "alice@example.com", Subject: "Welcome to the shop", Body: "Hi Alice, ..."},
	{RequestId: "req-2", To: "bob@example.com", Subject: "Your invoice #1042", Body: "Hi Bob, ..."},
	{RequestId: "req-3", To: "carol@example.com", Subject: "Reset your password", Body: "Hi Carol, ..."},
}

// The two faults the run forces.
const (
	greylisted = "bob@example.com" // the mail server turns the first attempt away
	ackLostFor = "req-3"           // the mail service loses its ack after sending
)

// run has the shop ask for the emails and returns once every request is
// answered and the redelivery after the lost ack was skipped, or ctx is
// done. The mail service remembers what it sent in the database
// DATABASE_URL names (a new SQLite file when unset).
var run = exampledb.Flow(runOn)

// runOn is run on the database db.
func runOn(db *sql.DB) example.Flow[Outcome] {
	return func(ctx context.Context, b *bus.Bus, out io.Writer) (Outcome, error) {
		return runFlow(ctx, db, b, out)
	}
}

func runFlow(ctx context.Context, db *sql.DB, b *bus.Bus, out io.Writer) (Outcome, error) {
	runID := example.RunID()
	// Requests go to one topic; each reply goes to the reply topic of the
	// requester that asked, matched to its request by correlation ID.
	sendEmail := bus.NewRequestTopic(
		bus.NewTopic("email.send."+runID, codec.Protobuf[*pb.SendEmail]{}).WithEventType("com.example.email.send"),
		codec.Protobuf[*pb.EmailSent]{},
	).WithReplyType("com.example.email.sent")
	tell := story.New(out)
	mail := &mailService{tell: tell, smtp: newSMTPServer(tell, greylisted),
		skipped: make(chan struct{}), crashed: make(chan struct{})}
	loseAck := mail.loseAckOnce(ackLostFor)

	// The mail service answers each request with EmailSent. Dedup remembers
	// what it sent, in the database, so a redelivered request is
	// acknowledged without sending again, also after a restart; a failed
	// send is not remembered, so its redelivery sends. Failures go back to
	// the broker (no in-process retries, no dead letters): a request is
	// never dropped.
	startMail := func(instance int) (*bus.Subscription, error) {
		// A new process knows nothing but what is in the database.
		dedup, err := middleware.Dedup(outbox.NewDedupStore(db),
			middleware.DedupOnDuplicate(func(ctx context.Context, m *bus.Message) { mail.duplicate(ctx, m, instance) }))
		if err != nil {
			return nil, err
		}
		return sendEmail.Serve(ctx, b, mail.handle,
			bus.Group("mail."+runID),
			bus.Concurrency(4),
			bus.Retry(bus.RetryPolicy{MaxAttempts: 1, HoldInterval: 100 * time.Millisecond, Multiplier: 1}),
			bus.Use(
				loseAck,
				dedup,
			))
	}
	firstMail, err := startMail(1)
	if err != nil {
		return Outcome{}, fmt.Errorf("start mail service: %w", err)
	}

	// The shop has one requester, with a reply topic of its own; it asks
	// for all emails at once and waits for each answer.
	requester, err := b.NewRequester(ctx, bus.ReplyTopic("shop.replies."+runID), bus.ReplyTimeout(time.Minute))
	if err != nil {
		return Outcome{}, fmt.Errorf("start shop requester: %w", err)
	}
	defer requester.Close(context.WithoutCancel(ctx))
	var (
		mu        sync.Mutex
		confirmed = make(map[string]*pb.EmailSent)
		asking    sync.WaitGroup
		errs      = make([]error, len(requests))
	)
	for i, r := range requests {
		asking.Go(func() {
			tell.Say("shop", "asks for %q to %s (%s)", r.Subject, r.To, r.RequestId)
			sent, _, err := sendEmail.Request(ctx, requester, r.RequestId, r)
			if err != nil {
				errs[i] = fmt.Errorf("request %s: %w", r.RequestId, err)
				return
			}
			tell.Say("shop", "%q to %s confirmed (%s)", r.Subject, r.To, sent.SmtpMessageId)
			mu.Lock()
			confirmed[r.RequestId] = sent
			mu.Unlock()
		})
	}

	// The mail service dies after sending one email, before acknowledging
	// it, and starts again.
	select {
	case <-mail.crashed:
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("waiting for the lost ack: %w", ctx.Err())
	}
	if err := firstMail.Close(ctx); err != nil {
		return Outcome{}, fmt.Errorf("stop mail service: %w", err)
	}
	tell.Say("mail", "restarted, with nothing in memory")
	if _, err := startMail(2); err != nil {
		return Outcome{}, fmt.Errorf("restart mail service: %w", err)
	}

	asking.Wait()
	if err := errors.Join(errs...); err != nil {
		return Outcome{}, err
	}
	select {
	case <-mail.skipped:
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("waiting for the redelivery after the lost ack: %w", ctx.Err())
	}
	outcome := Outcome{Sent: mail.smtp.sentByRequest(), Confirmed: confirmed}
	outcome.Duplicates, outcome.SkippedAfterRestart = mail.duplicates()
	sent := 0
	for _, n := range outcome.Sent {
		sent += n
	}
	tell.Say("done", "%d emails sent, %d confirmed; duplicates skipped: %d", sent, len(outcome.Confirmed), len(outcome.Duplicates))
	return outcome, nil
}

// mailService sends the requested emails and answers with EmailSent.
type mailService struct {
	tell *story.Teller
	smtp *smtpServer

	mu                  sync.Mutex
	skips               []string
	skippedAfterRestart []string
	skipped             chan struct{} // closed when the redelivery of ackLostFor was skipped
	skippedOnce         sync.Once
	crashed             chan struct{} // closed when the ack of ackLostFor was lost
}

func (s *mailService) handle(ctx context.Context, m *bus.Message, req *pb.SendEmail) (*pb.EmailSent, error) {
	messageID, err := s.smtp.send(ctx, req)
	if err != nil {
		s.tell.Say("mail", "could not send %s, the broker will deliver it again: %v", req.RequestId, err)
		return nil, err
	}
	// Dedup guards the whole handler, the reply included: should the reply
	// fail to publish, the request is redelivered and the email sent again.
	return &pb.EmailSent{CorrelationId: req.RequestId, To: req.To, SmtpMessageId: messageID}, nil
}

// duplicate is called by Dedup of the mail service's instance (1, or 2
// after the restart) for each delivery it skips.
func (s *mailService) duplicate(ctx context.Context, m *bus.Message, instance int) {
	s.tell.Say("mail", "%s was delivered again but is already sent: skipped", m.Key)
	s.mu.Lock()
	s.skips = append(s.skips, m.Key)
	if instance > 1 {
		s.skippedAfterRestart = append(s.skippedAfterRestart, m.Key)
	}
	s.mu.Unlock()
	if m.Key == ackLostFor {
		s.skippedOnce.Do(func() { close(s.skipped) })
	}
}

// duplicates returns the keys of the skipped deliveries, all and those
// after the restart.
func (s *mailService) duplicates() (all, afterRestart []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.skips), slices.Clone(s.skippedAfterRestart)
}

// errAckLost stands for a crash between sending an email and acknowledging
// its request.
var errAckLost = errors.New("simulated crash: the acknowledgement was lost")

// loseAckOnce forces a redelivery: the first time the request with key has
// been handled, it reports a failure anyway, as if the mail service had
// died before acknowledging it, and closes s.crashed so that the run
// restarts the mail service.
func (s *mailService) loseAckOnce(key string) bus.Middleware {
	var once sync.Once
	return func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Message) error {
			err := next(ctx, m)
			if err != nil || m.Key != key {
				return err
			}
			lost := false
			once.Do(func() { lost = true })
			if !lost {
				return nil
			}
			s.tell.Say("mail", "sent %s, then lost the acknowledgement (simulated crash)", key)
			close(s.crashed)
			return errAckLost
		}
	}
}

// smtpServer stands in for an SMTP server: "sending" an email writes it to
// the story, labelled as such. It turns the first attempt to one address
// away, as greylisting mail servers do.
type smtpServer struct {
	tell       *story.Teller
	greylisted string

	mu       sync.Mutex
	sent     map[string]int
	attempts map[string]int
}

func newSMTPServer(tell *story.Teller, greylisted string) *smtpServer {
	return &smtpServer{tell: tell, greylisted: greylisted, sent: make(map[string]int), attempts: make(map[string]int)}
}

// send "delivers" req and returns the Message-ID the server gave it.
func (o *smtpServer) send(_ context.Context, req *pb.SendEmail) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts[req.To]++
	if req.To == o.greylisted && o.attempts[req.To] == 1 {
		return "", fmt.Errorf("smtp: 451 4.7.1 greylisted, try again later (to %s)", req.To)
	}
	o.sent[req.RequestId]++
	messageID := fmt.Sprintf("<%s@mail.example.com>", req.RequestId)
	o.tell.Say("smtp", "[SMTP stand-in] 250 OK %q to %s, %s", req.Subject, req.To, messageID)
	return messageID, nil
}

func (o *smtpServer) sentByRequest() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.sent)
}
