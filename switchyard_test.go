package switchyard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard/switchyard"
)

func ptr[T any](v T) *T { return &v }

func TestOrderLifecycle(t *testing.T) {
	all := []switchyard.OrderStatus{"PENDING", "PAID", "FULFILLED", "SHIPPED", "DELIVERED", "CANCELLED", "REFUNDED"}
	allowed := map[string]bool{
		"PENDING>PAID": true, "PENDING>CANCELLED": true,
		"PAID>FULFILLED": true, "PAID>SHIPPED": true, "PAID>CANCELLED": true, "PAID>REFUNDED": true,
		"FULFILLED>SHIPPED": true, "FULFILLED>REFUNDED": true,
		"SHIPPED>DELIVERED": true, "SHIPPED>REFUNDED": true,
		"DELIVERED>REFUNDED": true,
	}
	for _, from := range all {
		for _, to := range all {
			want := allowed[string(from)+">"+string(to)]
			if got := from.CanTransitionTo(to); got != want {
				t.Errorf("%s → %s: CanTransitionTo = %v, want %v", from, to, got, want)
			}
			err := switchyard.ValidateTransition("status", from, to)
			if (err == nil) != want {
				t.Errorf("%s → %s: ValidateTransition = %v, want allowed=%v", from, to, err, want)
			}
			if err != nil && (switchyard.ErrorCode(err) != switchyard.EINVALID || switchyard.ErrorField(err) != "status") {
				t.Errorf("%s → %s: error %v is not BAD_USER_INPUT on status", from, to, err)
			}
		}
	}
	if err := switchyard.ValidateTransition("status", "PENDING", "LOST"); switchyard.ErrorCode(err) != switchyard.EINVALID {
		t.Errorf("unknown status: got %v", err)
	}
}

func TestOrderCreateValidate(t *testing.T) {
	valid := func() switchyard.OrderCreate {
		return switchyard.OrderCreate{ProjectID: "p", Currency: "usd", Items: []switchyard.OrderItemInput{
			{SKU: " SKU-1 ", Name: "Mug", Quantity: 3, UnitPrice: "19.99"},
			{SKU: "SKU-2", Name: "Tea", Quantity: 1, UnitPrice: "5"},
		}}
	}
	tests := []struct {
		name   string
		change func(*switchyard.OrderCreate)
		field  string
	}{
		{"valid", func(*switchyard.OrderCreate) {}, ""},
		{"unknown currency", func(o *switchyard.OrderCreate) { o.Currency = "XXX" }, "input.currency"},
		{"no items", func(o *switchyard.OrderCreate) { o.Items = nil }, "input.items"},
		{"zero quantity", func(o *switchyard.OrderCreate) { o.Items[1].Quantity = 0 }, "input.items[1].quantity"},
		{"negative quantity", func(o *switchyard.OrderCreate) { o.Items[0].Quantity = -2 }, "input.items[0].quantity"},
		{"negative price", func(o *switchyard.OrderCreate) { o.Items[0].UnitPrice = "-1.00" }, "input.items[0].unitPrice"},
		{"malformed price", func(o *switchyard.OrderCreate) { o.Items[0].UnitPrice = "1e3" }, "input.items[0].unitPrice"},
		{"too many decimals", func(o *switchyard.OrderCreate) { o.Items[0].UnitPrice = "1.999" }, "input.items[0].unitPrice"},
		{"yen has no cents", func(o *switchyard.OrderCreate) { o.Currency = "JPY"; o.Items[1].UnitPrice = "5.5" }, "input.items[0].unitPrice"},
		{"empty sku", func(o *switchyard.OrderCreate) { o.Items[1].SKU = "  " }, "input.items[1].sku"},
		{"empty name", func(o *switchyard.OrderCreate) { o.Items[1].Name = "" }, "input.items[1].name"},
		{"too many items", func(o *switchyard.OrderCreate) {
			o.Items = make([]switchyard.OrderItemInput, switchyard.MaxOrderItems+1)
		}, "input.items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.change(&in)
			err := in.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if switchyard.ErrorCode(err) != switchyard.EINVALID || switchyard.ErrorField(err) != tt.field {
				t.Fatalf("Validate() = %v, want BAD_USER_INPUT on %s", err, tt.field)
			}
		})
	}
}

func TestOrderCreateLineTotals(t *testing.T) {
	tests := []struct {
		currency string
		items    []switchyard.OrderItemInput
		lines    []switchyard.Decimal
		total    switchyard.Decimal
	}{
		{"USD", []switchyard.OrderItemInput{{SKU: "a", Name: "a", Quantity: 3, UnitPrice: "19.99"}, {SKU: "b", Name: "b", Quantity: 1, UnitPrice: "0.1"}}, []switchyard.Decimal{"59.97", "0.10"}, "60.07"},
		{"JPY", []switchyard.OrderItemInput{{SKU: "a", Name: "a", Quantity: 2, UnitPrice: "1500"}}, []switchyard.Decimal{"3000"}, "3000"},
		{"BHD", []switchyard.OrderItemInput{{SKU: "a", Name: "a", Quantity: 7, UnitPrice: "0.125"}}, []switchyard.Decimal{"0.875"}, "0.875"},
		// 0.1 + 0.2 is the float trap; exact arithmetic must give 0.30.
		{"EUR", []switchyard.OrderItemInput{{SKU: "a", Name: "a", Quantity: 1, UnitPrice: "0.1"}, {SKU: "b", Name: "b", Quantity: 1, UnitPrice: "0.2"}}, []switchyard.Decimal{"0.10", "0.20"}, "0.30"},
	}
	for _, tt := range tests {
		t.Run(tt.currency, func(t *testing.T) {
			in := switchyard.OrderCreate{ProjectID: "p", Currency: tt.currency, Items: tt.items}
			if err := in.Validate(); err != nil {
				t.Fatal(err)
			}
			lines, total := in.LineTotals()
			if fmt.Sprint(lines) != fmt.Sprint(tt.lines) || total != tt.total {
				t.Fatalf("LineTotals() = %v, %v; want %v, %v", lines, total, tt.lines, tt.total)
			}
		})
	}
}

func TestParseDecimal(t *testing.T) {
	for _, s := range []string{"0", "12.50", "-3", "0.000001", "999999999999999.99"} {
		if _, err := switchyard.ParseDecimal(s); err != nil {
			t.Errorf("ParseDecimal(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "1e3", "01", "1.", ".5", "1,000", "NaN", "Infinity", "1.1234567", "1234567890123456"} {
		if _, err := switchyard.ParseDecimal(s); err == nil {
			t.Errorf("ParseDecimal(%q) succeeded, want an error", s)
		}
	}
	var d switchyard.Decimal
	if err := d.UnmarshalGQL(12.5); err == nil {
		t.Error("UnmarshalGQL(float) succeeded; floats must be refused")
	}
	var b strings.Builder
	switchyard.Decimal("12.50").MarshalGQL(&b)
	if b.String() != `"12.50"` {
		t.Errorf("MarshalGQL = %s", b.String())
	}
}

func TestPageArgsValidate(t *testing.T) {
	tests := []struct {
		args  switchyard.PageArgs
		field string
	}{
		{switchyard.PageArgs{}, ""},
		{switchyard.PageArgs{First: ptr(100)}, ""},
		{switchyard.PageArgs{First: ptr(101)}, "first"},
		{switchyard.PageArgs{Last: ptr(101)}, "last"},
		{switchyard.PageArgs{First: ptr(-1)}, "first"},
		{switchyard.PageArgs{First: ptr(1), Last: ptr(1)}, "last"},
	}
	for _, tt := range tests {
		err := tt.args.Validate()
		if got := switchyard.ErrorField(err); got != tt.field || (tt.field != "" && switchyard.ErrorCode(err) != switchyard.EINVALID) {
			t.Errorf("Validate(%+v) = %v, want field %q", tt.args, err, tt.field)
		}
	}
}

func TestUserInputValidate(t *testing.T) {
	tests := []struct {
		in    switchyard.UserCreate
		field string
	}{
		{switchyard.UserCreate{Email: " Alice@Example.com ", Name: "Alice"}, ""},
		{switchyard.UserCreate{Email: "not-an-email", Name: "A"}, "input.email"},
		{switchyard.UserCreate{Email: "Alice <a@example.com>", Name: "A"}, "input.email"},
		{switchyard.UserCreate{Email: "a@localhost", Name: "A"}, "input.email"},
		{switchyard.UserCreate{Email: "a@example.com", Name: "  "}, "input.name"},
		{switchyard.UserCreate{Email: "a@example.com", Name: "A", Role: "ROOT"}, "input.role"},
		{switchyard.UserCreate{Email: "a@example.com", Name: "A", AvatarURL: ptr("javascript:alert(1)")}, "input.avatarUrl"},
	}
	for _, tt := range tests {
		in := tt.in
		err := in.Validate()
		if switchyard.ErrorField(err) != tt.field {
			t.Errorf("Validate(%+v) = %v, want field %q", tt.in, err, tt.field)
		}
		if err == nil && (in.Email != "alice@example.com" || in.Role != switchyard.RoleMember) {
			t.Errorf("Validate did not normalize: %+v", in)
		}
	}
}

func TestErrorVocabulary(t *testing.T) {
	wrapped := fmt.Errorf("while loading: %w", switchyard.Errorf(switchyard.ENOTFOUND, "order not found"))
	if switchyard.ErrorCode(wrapped) != switchyard.ENOTFOUND || switchyard.ErrorMessage(wrapped) != "order not found" {
		t.Errorf("wrapped error lost its code: %v", wrapped)
	}
	raw := errors.New("pq: password authentication failed for user")
	if switchyard.ErrorCode(raw) != switchyard.EINTERNAL || strings.Contains(switchyard.ErrorMessage(raw), "password") {
		t.Errorf("internal error text must not reach clients: %q", switchyard.ErrorMessage(raw))
	}
	if _, err := switchyard.RequireCaller(context.Background()); switchyard.ErrorCode(err) != switchyard.EUNAUTHENTICATED {
		t.Errorf("RequireCaller(anonymous) = %v", err)
	}
}
