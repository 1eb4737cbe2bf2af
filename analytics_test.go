package switchyard_test

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAnalyticsBuckets(t *testing.T) {
	cases := []struct {
		name     string
		from, to string
		g        switchyard.Granularity
		tz       string
		// want lists the bucket starts as RFC 3339 in the zone.
		want []string
	}{
		{name: "days in UTC", from: "2026-01-01T10:00:00Z", to: "2026-01-03T00:00:00Z", g: "DAY", tz: "UTC",
			want: []string{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"}},
		{name: "to on a bucket edge opens no bucket", from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", g: "DAY", tz: "UTC",
			want: []string{"2026-01-01T00:00:00Z"}},
		{name: "empty range has no bucket", from: "2026-01-01T05:00:00Z", to: "2026-01-01T05:00:00Z", g: "DAY", tz: "UTC"},
		{name: "23:30 UTC is the next day in Berlin", from: "2026-01-01T23:30:00Z", to: "2026-01-02T00:00:00Z", g: "DAY", tz: "Europe/Berlin",
			want: []string{"2026-01-02T00:00:00+01:00"}},
		{name: "Berlin days across the spring change are 24, 23, 24 hours", from: "2026-03-28T00:00:00+01:00", to: "2026-03-31T00:00:00+02:00", g: "DAY", tz: "Europe/Berlin",
			want: []string{"2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}},
		{name: "Berlin days across the autumn change", from: "2026-10-24T12:00:00Z", to: "2026-10-26T12:00:00Z", g: "DAY", tz: "Europe/Berlin",
			want: []string{"2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"}},
		{name: "Berlin hours when the clocks go back: 02:00 twice", from: "2026-10-25T00:00:00Z", to: "2026-10-25T03:00:00Z", g: "HOUR", tz: "Europe/Berlin",
			want: []string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"}},
		{name: "Berlin hours when the clocks go forward: no 02:00", from: "2026-03-29T00:00:00Z", to: "2026-03-29T02:00:00Z", g: "HOUR", tz: "Europe/Berlin",
			want: []string{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"}},
		{name: "Kolkata hours start at half past UTC", from: "2026-01-01T00:00:00Z", to: "2026-01-01T01:00:00Z", g: "HOUR", tz: "Asia/Kolkata",
			want: []string{"2026-01-01T05:00:00+05:30", "2026-01-01T06:00:00+05:30"}},
		{name: "Kathmandu days", from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", g: "DAY", tz: "Asia/Kathmandu",
			want: []string{"2026-01-01T00:00:00+05:45", "2026-01-02T00:00:00+05:45"}},
		{name: "ISO weeks start on Monday", from: "2026-01-01T00:00:00Z", to: "2026-01-13T00:00:00Z", g: "WEEK", tz: "UTC",
			want: []string{"2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"}},
		{name: "months in Los Angeles", from: "2026-01-31T12:00:00Z", to: "2026-03-15T00:00:00Z", g: "MONTH", tz: "America/Los_Angeles",
			want: []string{"2026-01-01T00:00:00-08:00", "2026-02-01T00:00:00-08:00", "2026-03-01T00:00:00-08:00"}},
		{name: "Lord Howe half-hour daylight saving", from: "2026-10-03T14:00:00Z", to: "2026-10-03T17:00:00Z", g: "HOUR", tz: "Australia/Lord_Howe",
			// The clock jumps from 02:00 to 02:30: the hour from 01:00 lasts 90 minutes.
			want: []string{"2026-10-04T00:00:00+10:30", "2026-10-04T01:00:00+10:30", "2026-10-04T03:00:00+11:00"}},
		{name: "Santiago skips midnight: the day starts at 01:00", from: "2026-09-04T12:00:00Z", to: "2026-09-07T12:00:00Z", g: "DAY", tz: "America/Santiago",
			want: []string{"2026-09-04T00:00:00-04:00", "2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"}},
		{name: "Havana's week and month across its midnight jump", from: "2026-03-01T12:00:00Z", to: "2026-03-10T12:00:00Z", g: "WEEK", tz: "America/Havana",
			want: []string{"2026-02-23T00:00:00-05:00", "2026-03-02T00:00:00-05:00", "2026-03-09T00:00:00-04:00"}},
		{name: "Santiago's month across the September jump", from: "2026-08-15T00:00:00Z", to: "2026-09-10T00:00:00Z", g: "MONTH", tz: "America/Santiago",
			want: []string{"2026-08-01T00:00:00-04:00", "2026-09-01T00:00:00-04:00"}},
		{name: "Lord Howe: 02:40 after the jump is in the hour that began at 01:00", from: "2026-10-03T15:40:00Z", to: "2026-10-03T16:30:00Z", g: "HOUR", tz: "Australia/Lord_Howe",
			want: []string{"2026-10-04T01:00:00+10:30", "2026-10-04T03:00:00+11:00"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: mustTime(t, c.from), To: mustTime(t, c.to)}, Granularity: c.g, TimeZone: c.tz}
			if err := q.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := q.Buckets()
			if err != nil {
				t.Fatal(err)
			}
			var gotS []string
			for _, b := range got {
				gotS = append(gotS, b.Format(time.RFC3339))
			}
			if len(gotS) != len(c.want) {
				t.Fatalf("buckets = %v, want %v", gotS, c.want)
			}
			for i := range gotS {
				if !mustTime(t, gotS[i]).Equal(mustTime(t, c.want[i])) || gotS[i] != c.want[i] {
					t.Fatalf("buckets = %v, want %v", gotS, c.want)
				}
			}
			// Buckets tile time: each ends where the next starts.
			for i := 0; i+1 < len(got); i++ {
				if !q.BucketEnd(got[i]).Equal(got[i+1]) {
					t.Fatalf("bucket %d ends %v, next starts %v", i, q.BucketEnd(got[i]), got[i+1])
				}
			}
			if len(got) > 0 && (got[0].After(q.Range.From) || !q.BucketEnd(got[len(got)-1]).After(q.Range.To.Add(-time.Nanosecond))) {
				t.Fatalf("buckets %v do not cover the range", gotS)
			}
		})
	}
}

func TestAnalyticsQueryValidate(t *testing.T) {
	from := mustTime(t, "2026-01-01T00:00:00Z")
	cases := []struct {
		name  string
		q     switchyard.AnalyticsQuery
		field string // "" wants no error
	}{
		{name: "defaults", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.AddDate(1, 0, 0)}}},
		{name: "from after to", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.Add(-time.Second)}}, field: "range.from"},
		{name: "unknown time zone", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from}, TimeZone: "Mars/Olympus_Mons"}, field: "timeZone"},
		{name: "Local is not a zone a client can mean", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from}, TimeZone: "Local"}, field: "timeZone"},
		{name: "path in time zone", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from}, TimeZone: "../../etc/passwd"}, field: "timeZone"},
		{name: "unknown granularity", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from}, Granularity: "YEAR"}, field: "granularity"},
		{name: "10,000 hours", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.Add(10_000 * time.Hour)}, Granularity: "HOUR"}},
		{name: "10,001 hours", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.Add(10_001 * time.Hour)}, Granularity: "HOUR"}, field: "range"},
		{name: "a thousand years of days", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.AddDate(1000, 0, 0)}}, field: "range"},
		{name: "a thousand years of months", q: switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: from, To: from.AddDate(1000, 0, 0)}, Granularity: "MONTH"}, field: "range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.q.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.q.Granularity != switchyard.GranularityDay && c.q.Granularity != switchyard.GranularityHour || c.q.TimeZone == "" {
					t.Fatalf("defaults not filled in: %+v", c.q)
				}
				return
			}
			if switchyard.ErrorCode(err) != switchyard.EINVALID || switchyard.ErrorField(err) != c.field {
				t.Fatalf("want BAD_USER_INPUT on %q, got %v", c.field, err)
			}
		})
	}
}

func TestCountsAsRevenue(t *testing.T) {
	for _, s := range switchyard.OrderStatuses() {
		want := s != switchyard.OrderPending && s != switchyard.OrderCancelled && s != switchyard.OrderRefunded
		if s.CountsAsRevenue() != want {
			t.Errorf("%s.CountsAsRevenue() = %v", s, !want)
		}
	}
}
