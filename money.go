package switchyard

import (
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Decimal is an exact decimal number kept as canonical text ("12.50", "-3",
// "0.125"). Money never passes through a float: arithmetic goes through
// math/big and PostgreSQL's numeric.
type Decimal string

var decimalPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?$`)

// ParseDecimal parses s as a plain decimal number: an optional minus sign, up to
// 15 integer digits and up to 6 fraction digits. No exponents, no grouping.
func ParseDecimal(s string) (Decimal, error) {
	s = strings.TrimSpace(s)
	if !decimalPattern.MatchString(s) {
		return "", fmt.Errorf("%q is not a decimal number like 12.50", s)
	}
	return Decimal(s), nil
}

// Rat returns d as an exact rational. It panics on text that ParseDecimal would
// reject, which only happens if a Decimal was built by hand from bad text.
func (d Decimal) Rat() *big.Rat {
	r, ok := new(big.Rat).SetString(string(d))
	if !ok {
		panic(fmt.Sprintf("switchyard: invalid Decimal %q", string(d)))
	}
	return r
}

// Scale returns the number of digits after the decimal point.
func (d Decimal) Scale() int {
	if i := strings.IndexByte(string(d), '.'); i >= 0 {
		return len(d) - i - 1
	}
	return 0
}

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int { return d.Rat().Sign() }

// DecimalFromRat formats r with exactly scale fraction digits, rounding half away
// from zero.
func DecimalFromRat(r *big.Rat, scale int) Decimal {
	return Decimal(r.FloatString(scale))
}

// RoundTo returns d with exactly scale fraction digits.
func (d Decimal) RoundTo(scale int) Decimal { return DecimalFromRat(d.Rat(), scale) }

// MarshalGQL writes d as a JSON string so clients never read money as a float.
func (d Decimal) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(string(d)))
}

// UnmarshalGQL accepts a string, or an integer literal for convenience. Floats
// are refused: their value is already rounded by the time they arrive.
func (d *Decimal) UnmarshalGQL(v any) error {
	switch v := v.(type) {
	case string:
		p, err := ParseDecimal(v)
		if err != nil {
			return err
		}
		*d = p
		return nil
	case int:
		*d = Decimal(strconv.Itoa(v))
		return nil
	case int64:
		*d = Decimal(strconv.FormatInt(v, 10))
		return nil
	default:
		return fmt.Errorf("Decimal must be a string like \"12.50\", got %T", v)
	}
}

// Money is an amount in one currency. Amounts in different currencies are never
// added together.
type Money struct {
	Amount   Decimal
	Currency string
}

// currencyMinorUnits maps the ISO 4217 currencies Switchyard accepts to their
// number of fraction digits.
var currencyMinorUnits = map[string]int{
	"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2,
	"SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "BRL": 2,
	"MXN": 2, "INR": 2, "CNY": 2, "HKD": 2, "SGD": 2, "ZAR": 2, "TRY": 2,
	"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0,
	"BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}

// CurrencyMinorUnits returns how many fraction digits currency code has and
// whether Switchyard accepts the currency at all.
func CurrencyMinorUnits(code string) (int, bool) {
	n, ok := currencyMinorUnits[code]
	return n, ok
}
