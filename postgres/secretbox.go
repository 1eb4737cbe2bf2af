package postgres

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SecretKeyBytes is the length of the key that encrypts stored secrets
// (AES-256).
const SecretKeyBytes = 32

// ParseSecretKey turns SWITCHYARD_SECRET_KEY into the 32-byte key that
// encrypts stored secrets. It accepts, in this order:
//   - 32 raw bytes in standard or URL-safe base64, padded or not
//     (openssl rand -base64 32);
//   - 32 raw bytes as 64 hex digits (openssl rand -hex 32);
//   - anything else as a passphrase, whose SHA-256 is the key. A passphrase
//     is only as strong as it is long and random; use one of the forms above
//     in production.
//
// The value is used as given: surrounding space is part of a passphrase.
// derived reports that the key is a passphrase's digest. Returns an error for
// an empty value.
func ParseSecretKey(s string) (key []byte, derived bool, err error) {
	if s == "" {
		return nil, false, errors.New("secret key: empty")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == SecretKeyBytes {
			return b, false, nil
		}
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == SecretKeyBytes {
		return b, false, nil
	}
	sum := sha256.Sum256([]byte(s))
	return sum[:], true, nil
}

// secretBox seals secrets with AES-256-GCM. Each seal takes a fresh random
// 96-bit nonce; additional data binds a ciphertext to the row it belongs to.
type secretBox struct {
	aead cipher.AEAD
	// keyID names the key without revealing it, so a ciphertext sealed under
	// another SWITCHYARD_SECRET_KEY is reported as such.
	keyID string
}

func newSecretBox(key []byte) (*secretBox, error) {
	if len(key) != SecretKeyBytes {
		return nil, fmt.Errorf("secret key: %d bytes, want %d", len(key), SecretKeyBytes)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	// A domain-separated digest: the key id can never be mistaken for, or
	// help compute, anything the key itself is used for.
	id := sha256.Sum256(append([]byte("switchyard secret key id\x00"), key...))
	return &secretBox{aead: aead, keyID: hex.EncodeToString(id[:4])}, nil
}

func (b *secretBox) seal(plaintext, aad []byte) (ciphertext, nonce []byte, err error) {
	nonce = make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("secret box: nonce: %w", err)
	}
	return b.aead.Seal(nil, nonce, plaintext, aad), nonce, nil
}

// open decrypts a ciphertext sealed under keyID. Its errors never contain
// the ciphertext or the plaintext.
func (b *secretBox) open(ciphertext, nonce, aad []byte, keyID string) ([]byte, error) {
	if keyID != b.keyID {
		return nil, fmt.Errorf("secret box: the secret was sealed under another SWITCHYARD_SECRET_KEY (key id %s, configured %s)", keyID, b.keyID)
	}
	if len(nonce) != b.aead.NonceSize() {
		return nil, errors.New("secret box: malformed nonce")
	}
	p, err := b.aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, errors.New("secret box: the secret does not decrypt (corrupt, or moved from another row)")
	}
	return p, nil
}

// secretAAD is the additional data of an integration's signing secret: the
// row it is stored in.
func secretAAD(integrationID, secretID string) []byte {
	return []byte("integration_secret\x00" + strings.ToLower(integrationID) + "\x00" + strings.ToLower(secretID))
}
