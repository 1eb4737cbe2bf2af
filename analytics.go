package switchyard

import (
	"context"
	"strings"
	"sync"
	"time"

	// Time zones are validated and buckets computed here, so the binary must
	// know every IANA zone even on a host without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Granularity is the length of one bucket of an analytics time series, in the
// query's time zone.
type Granularity string

const (
	GranularityHour  Granularity = "HOUR"
	GranularityDay   Granularity = "DAY"
	GranularityWeek  Granularity = "WEEK"
	GranularityMonth Granularity = "MONTH"
)

// Valid reports whether g is a known granularity.
func (g Granularity) Valid() bool {
	switch g {
	case GranularityHour, GranularityDay, GranularityWeek, GranularityMonth:
		return true
	}
	return false
}

// MaxAnalyticsBuckets bounds a time series: a range wider than this many
// buckets of its granularity is refused rather than shortened.
const MaxAnalyticsBuckets = 10_000

// AnalyticsTopCustomers is how many customers Analytics.TopCustomers lists.
const AnalyticsTopCustomers = 10

// CountsAsRevenue reports whether an order in status s counts as revenue:
// money that was taken and not given back. PENDING orders are not paid yet,
// CANCELLED ones never were, REFUNDED ones were paid back. Every order counts
// in the order counts whatever its status.
func (s OrderStatus) CountsAsRevenue() bool {
	switch s {
	case OrderPaid, OrderFulfilled, OrderShipped, OrderDelivered:
		return true
	}
	return false
}

// OrderStatuses lists every status in lifecycle order.
func OrderStatuses() []OrderStatus {
	return []OrderStatus{OrderPending, OrderPaid, OrderFulfilled, OrderShipped, OrderDelivered, OrderCancelled, OrderRefunded}
}

// AnalyticsRange is a half-open span of time: an order counts when
// From <= createdAt < To.
type AnalyticsRange struct {
	From time.Time
	To   time.Time
}

// AnalyticsQuery asks for the analytics of one project, or of every project
// the caller may read when ProjectID is nil.
type AnalyticsQuery struct {
	ProjectID   *string
	Range       AnalyticsRange
	Granularity Granularity
	// TimeZone is an IANA name like "Europe/Berlin"; buckets start at the
	// local start of the hour, day, ISO week (Monday) or month there.
	TimeZone string
	// SkipTopCustomers leaves Analytics.TopCustomers empty, for callers that
	// do not show them: finding them is the most expensive part.
	SkipTopCustomers bool
	// SkipIntegrationHealth leaves Analytics.IntegrationHealth empty, for
	// callers that do not show it.
	SkipIntegrationHealth bool
}

// DefaultAnalyticsTimeZone is the zone of buckets when a query names none.
const DefaultAnalyticsTimeZone = "UTC"

// Validate fills in the defaults (DAY, UTC) and returns EINVALID naming the
// argument at fault: "range.from" when from is after to, "timeZone" for a
// name that is not an IANA time zone, "granularity" for an unknown one, and
// "range" when the range holds more than MaxAnalyticsBuckets buckets.
func (q *AnalyticsQuery) Validate() error {
	if q.Granularity == "" {
		q.Granularity = GranularityDay
	}
	if q.TimeZone == "" {
		q.TimeZone = DefaultAnalyticsTimeZone
	}
	if !q.Granularity.Valid() {
		return InvalidField("granularity", "unknown granularity %q", q.Granularity)
	}
	if q.Range.From.IsZero() || q.Range.To.IsZero() {
		return InvalidField("range", "range needs both from and to")
	}
	if q.Range.From.After(q.Range.To) {
		return InvalidField("range.from", "from must not be after to")
	}
	if _, err := q.Location(); err != nil {
		return err
	}
	if _, err := q.Buckets(); err != nil {
		return err
	}
	return nil
}

// Location returns the query's time zone, or EINVALID naming "timeZone".
func (q *AnalyticsQuery) Location() (*time.Location, error) {
	name := q.TimeZone
	// "Local" is the server's own zone, which a client cannot know; "" is
	// filled in by Validate.
	if name == "" || name == "Local" || strings.ContainsAny(name, `\`) {
		return nil, InvalidField("timeZone", "unknown time zone %q; use an IANA name like Europe/Berlin", name)
	}
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, InvalidField("timeZone", "unknown time zone %q; use an IANA name like Europe/Berlin", name)
	}
	locations.Store(name, loc)
	return loc, nil
}

// locations caches the zones loaded so far: LoadLocation reads and parses a
// zone file each time. Only names that loaded are kept, so the cache holds at
// most the few hundred IANA zones.
var locations sync.Map

// Buckets returns the start of every bucket that holds a part of the range,
// in order: the first starts at or before From, the last before To; an empty
// range has none. Each bucket ends where the next starts; the last ends at
// BucketEnd of its start. Returns EINVALID naming "range" when there would be
// more than MaxAnalyticsBuckets.
//
// Days, weeks and months follow the local calendar, so a day is 23 or 25
// hours long across a daylight saving change. Hours are an hour long each, so
// the day the clocks go back has 25 of them; in a zone whose offset is not a
// whole number of hours they start at the local hour, like :30 in India.
func (q *AnalyticsQuery) Buckets() ([]time.Time, error) {
	loc, err := q.Location()
	if err != nil {
		return nil, err
	}
	from, to := q.Range.From, q.Range.To
	var out []time.Time
	if !from.Before(to) {
		return out, nil
	}
	start := bucketFloor(from, q.Granularity, loc)
	for start.Before(to) {
		if len(out) == MaxAnalyticsBuckets {
			return nil, InvalidField("range", "the range holds more than %d %s buckets; narrow it or use a coarser granularity", MaxAnalyticsBuckets, strings.ToLower(string(q.Granularity)))
		}
		out = append(out, start)
		start = bucketNext(start, q.Granularity, loc)
	}
	return out, nil
}

// BucketEnd returns the end of the bucket that starts at start.
func (q *AnalyticsQuery) BucketEnd(start time.Time) time.Time {
	loc, err := q.Location()
	if err != nil {
		loc = time.UTC
	}
	return bucketNext(start, q.Granularity, loc)
}

// bucketFloor returns the start of the bucket holding t.
func bucketFloor(t time.Time, g Granularity, loc *time.Location) time.Time {
	t = t.In(loc)
	if g == GranularityHour {
		// The local hour, keeping t's own offset: of the two 02:00s of the
		// night the clocks go back, t's hour is the one t is in.
		_, off := t.Zone()
		secs := (t.Unix() + int64(off)) % 3600
		if secs < 0 {
			secs += 3600
		}
		f := t.Add(-time.Duration(secs)*time.Second - time.Duration(t.Nanosecond()))
		// Where the offset changed by a fraction of an hour since then (Lord
		// Howe Island), the clock never read f's :00; the hour began at the
		// last instant it did. Offsets are whole quarter hours.
		for i, g := 0, f; i < maxQuarterSteps; i++ {
			if onTheHour(g, loc) {
				return g
			}
			g = g.Add(-15 * time.Minute)
		}
		return f
	}
	y, m, d := t.Date()
	switch g {
	case GranularityWeek:
		// ISO weeks start on Monday.
		d -= (int(t.Weekday()) + 6) % 7
	case GranularityMonth:
		d = 1
	}
	start := dayStart(y, m, d, loc)
	if start.After(t) {
		// Defensive: a day never starts after an instant in it.
		start = t
	}
	return start
}

// dayStart returns the first instant of the local date y-m-d (which may be
// out of range, like time.Date's). Where the clocks jump forward at midnight
// (Santiago, Havana, Beirut) that midnight never happens and the day starts
// at the end of the jump, 01:00; time.Date would answer an hour before the
// jump, 23:00 of the day before.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if _, _, day := t.Date(); day != time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Day() {
		if _, end := t.ZoneBounds(); !end.IsZero() && end.After(t) {
			return end
		}
	}
	return t
}

// maxQuarterSteps bounds the search for a local hour boundary; zones whose
// offsets are not whole quarter hours (local mean time before 1970) fall
// back to whole hours of their offset.
const maxQuarterSteps = 12

func onTheHour(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	return t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// bucketNext returns the start of the bucket after the one starting at start.
func bucketNext(start time.Time, g Granularity, loc *time.Location) time.Time {
	start = start.In(loc)
	var next time.Time
	switch g {
	case GranularityHour:
		// The next instant the local clock reads :00, usually an hour on.
		for i := 1; i <= maxQuarterSteps; i++ {
			if c := start.Add(time.Duration(i) * 15 * time.Minute); onTheHour(c, loc) {
				return c
			}
		}
		return start.Add(time.Hour)
	case GranularityDay:
		y, m, d := start.Date()
		next = dayStart(y, m, d+1, loc)
	case GranularityWeek:
		y, m, d := start.Date()
		next = dayStart(y, m, d+7, loc)
	default:
		y, m, _ := start.Date()
		next = dayStart(y, m+1, 1, loc)
	}
	if !next.After(start) {
		// Defensive: a zone whose rules move midnight backwards past start.
		next = start.Add(time.Hour)
	}
	return next
}

// Analytics summarizes the orders created in a range. Amounts are per
// currency and never added across currencies; lists of money are sorted by
// currency code.
type Analytics struct {
	// From and To are the range asked for.
	From, To    time.Time
	Granularity Granularity
	TimeZone    string
	// OrderCount counts every order created in the range, whatever its status.
	OrderCount int
	// RevenueOrderCount counts those whose status CountsAsRevenue.
	RevenueOrderCount int
	// Revenue sums the totals of the revenue orders, per currency. It lists
	// every currency of an order in the range, with zero where none counts.
	Revenue []Money
	// AverageOrderValue is Revenue divided by the revenue orders of that
	// currency, rounded half away from zero to the currency's minor unit. It
	// lists the currencies that have revenue orders.
	AverageOrderValue []Money
	// OrdersByStatus counts the orders in each status, every status listed in
	// lifecycle order, zero included.
	OrdersByStatus []OrderStatusCount
	// Series has one bucket per Buckets start, empty ones included.
	Series []AnalyticsBucket
	// TopCustomers are up to AnalyticsTopCustomers customers with the most
	// orders in the range (any status), ties broken by customer id; empty
	// when the query set SkipTopCustomers.
	TopCustomers []TopCustomer
	// IntegrationHealth has one entry per integration of the analysed
	// projects that the caller may read (see AnalyticsService), whether or
	// not it delivered anything in the range: the most critical first, then
	// by name and id. Empty when the query set SkipIntegrationHealth.
	IntegrationHealth []IntegrationDeliveryHealth
}

// OrderStatusCount is how many orders are in one status.
type OrderStatusCount struct {
	Status OrderStatus
	Count  int
}

// AnalyticsBucket is one bucket of a time series. The first and last bucket
// may reach outside the range; only the orders inside it count.
type AnalyticsBucket struct {
	Start time.Time
	End   time.Time
	// OrderCount counts every order created in the bucket.
	OrderCount int
	// Revenue lists the same currencies as Analytics.Revenue, zero included.
	Revenue []Money
}

// TopCustomer is a customer and what they ordered in the range.
type TopCustomer struct {
	CustomerID string
	// OrderCount counts their orders in the range, whatever the status.
	OrderCount int
	// Revenue sums their revenue orders per currency; it lists the
	// currencies they ordered in.
	Revenue []Money
}

// IntegrationDeliveryHealth is how one integration's webhook deliveries went
// in an analytics range, either way. An attempt counts in the range when it was
// created in it (WebhookDelivery.CreatedAt), the time the delivery lists
// show; every attempt counts, retries and redeliveries included.
type IntegrationDeliveryHealth struct {
	IntegrationID string
	// Status and ConsecutiveFailures are the integration's now, whatever the
	// range: what the circuit breaker decides on.
	Status              IntegrationStatus
	ConsecutiveFailures int
	// Attempted counts the finished attempts: Succeeded (SUCCEEDED, and
	// inbound IGNORED, verified and acknowledged) plus Failed (FAILED, and
	// inbound REJECTED). Pending counts the attempts not finished yet
	// (outbound ones queued, inbound ones being handled); they are not in
	// Attempted.
	Attempted, Succeeded, Failed, Pending int
	// SuccessRate is Succeeded / Attempted; nil when Attempted is zero.
	SuccessRate *float64
	// LatencyP50Ms and LatencyP95Ms are nearest-rank percentiles of the
	// latencies of the finished attempts that recorded one (a request refused
	// before it was read has none), rounded up to a bound of the latency
	// histogram the service keeps (at most a quarter above past 6 ms); nil
	// when none did.
	LatencyP50Ms, LatencyP95Ms *int
	// LastDeliveryAt is when the latest finished attempt of the range was
	// created; nil when there was none.
	LastDeliveryAt *time.Time
}

// AnalyticsService computes analytics over orders. A member sees the projects
// they own or belong to (their orders as a customer of other projects do not
// count); an admin sees every project; a partner's API key with
// ANALYTICS_READ sees its own project. Of the projects seen, the integration
// health lists the integrations the caller may also read through
// IntegrationService: every one for members and admins, a partner's own with
// INTEGRATIONS_READ, none without. Revenue and counts are attributed to the
// bucket in which the order was created, in its status now: a refund takes
// the order out of the revenue of the day it was placed.
type AnalyticsService interface {
	// Analytics returns the analytics of q.ProjectID, or of every readable
	// project when it is nil.
	// Returns EUNAUTHENTICATED for an anonymous caller, EINVALID as
	// AnalyticsQuery.Validate, ENOTFOUND (naming "projectId") when the
	// project does not exist or the caller may not read it.
	Analytics(ctx context.Context, q AnalyticsQuery) (*Analytics, error)
}
