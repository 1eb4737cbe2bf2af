package postgres

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseSecretKey(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	phrase := sha256.Sum256([]byte("correct horse battery staple"))
	cases := []struct {
		name, in    string
		want        []byte
		wantDerived bool
	}{
		{"std base64", base64.StdEncoding.EncodeToString(raw), raw, false},
		{"raw std base64", base64.RawStdEncoding.EncodeToString(raw), raw, false},
		{"url base64", base64.URLEncoding.EncodeToString(raw), raw, false},
		{"raw url base64", base64.RawURLEncoding.EncodeToString(raw), raw, false},
		{"hex", hex.EncodeToString(raw), raw, false},
		{"upper hex", strings.ToUpper(hex.EncodeToString(raw)), raw, false},
		{"passphrase", "correct horse battery staple", phrase[:], true},
		// 16 bytes of base64 is no AES-256 key: it is a passphrase.
		{"short base64", base64.StdEncoding.EncodeToString(raw[:16]), nil, true},
	}
	for _, c := range cases {
		got, derived, err := ParseSecretKey(c.in)
		if err != nil || len(got) != SecretKeyBytes || derived != c.wantDerived || (c.want != nil && !bytes.Equal(got, c.want)) {
			t.Errorf("%s: key %x derived %v err %v", c.name, got, derived, err)
		}
	}
	if _, _, err := ParseSecretKey(""); err == nil {
		t.Error("empty key accepted")
	}
}

func TestSecretBox(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{1}, 32)
	box, err := newSecretBox(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("whsec_the-plaintext-secret")
	aad := secretAAD("I1", "S1")
	ct, nonce, err := box.seal(secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, secret) || len(nonce) != 12 {
		t.Fatalf("ciphertext holds the plaintext or nonce is %d bytes", len(nonce))
	}
	ct2, nonce2, _ := box.seal(secret, aad)
	if bytes.Equal(ct, ct2) || bytes.Equal(nonce, nonce2) {
		t.Fatal("two seals of one secret must differ")
	}
	got, err := box.open(ct, nonce, aad, box.keyID)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q, %v", got, err)
	}
	// Case differences in ids are the same row.
	if _, err := box.open(ct, nonce, secretAAD("i1", "s1"), box.keyID); err != nil {
		t.Fatalf("uuid case: %v", err)
	}

	other, _ := newSecretBox(bytes.Repeat([]byte{2}, 32))
	tampered := bytes.Clone(ct)
	tampered[0] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another row":      func() ([]byte, error) { return box.open(ct, nonce, secretAAD("I2", "S1"), box.keyID) },
		"tampered":         func() ([]byte, error) { return box.open(tampered, nonce, aad, box.keyID) },
		"another key":      func() ([]byte, error) { return other.open(ct, nonce, aad, box.keyID) },
		"another key's id": func() ([]byte, error) { return other.open(ct, nonce, aad, other.keyID) },
		"bad nonce":        func() ([]byte, error) { return box.open(ct, nonce[:5], aad, box.keyID) },
	} {
		p, err := open()
		if err == nil || p != nil {
			t.Errorf("%s: opened", name)
			continue
		}
		if strings.Contains(err.Error(), string(secret)) || strings.Contains(err.Error(), hex.EncodeToString(ct)) {
			t.Errorf("%s: error reveals the secret: %v", name, err)
		}
	}
	if _, err := other.open(ct, nonce, aad, box.keyID); err == nil || !strings.Contains(err.Error(), "another SWITCHYARD_SECRET_KEY") {
		t.Errorf("a changed key should say so: %v", err)
	}
	if _, err := newSecretBox(key[:16]); err == nil {
		t.Error("a 16-byte key accepted")
	}
}
