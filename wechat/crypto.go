package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The message-push crypto, as WeChat's message-push and 消息加解密说明 pages describe it: one SHA-1
// over sorted strings for both signatures, and AES-256-CBC with the IV taken from the key and PKCS#7
// padded to 32-byte blocks for the envelope.

const (
	// encodingAESKeyLen is the length of the EncodingAESKey the console shows: 43 base64 characters,
	// one "=" short of the 44 that encode 32 bytes.
	encodingAESKeyLen = 43
	// padBlock is the PKCS#7 block WeChat pads to: the key size, not AES's 16-byte block.
	padBlock = 32
	// randomLen and lenLen frame the plaintext: random(16) | msg_len(4, big endian) | msg | appid.
	randomLen = 16
	lenLen    = 4
)

// Sign returns WeChat's push signature over values: the lowercase hex SHA-1 of the values sorted
// as byte strings and joined without a separator. With the Token, timestamp and nonce it gives the
// query's signature; adding the body's Encrypt gives msg_signature.
func Sign(values ...string) string {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(sum[:])
}

// signatureMatches compares in constant time so that a caller probing signatures learns nothing
// from how long a refusal takes.
func signatureMatches(got string, values ...string) bool {
	want := Sign(values...)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// VerifyURL reports whether signature is WeChat's signature over token, timestamp and nonce: the
// check of the GET WeChat sends when the push URL is saved in the console (the handler then answers
// echostr unchanged).
func VerifyURL(token, signature, timestamp, nonce string) bool {
	if token == "" {
		return false
	}
	return signatureMatches(signature, token, timestamp, nonce)
}

// parseAESKey turns the console's EncodingAESKey into the 32-byte AES key:
// base64(EncodingAESKey + "="). The standard decoder's leniency about the last character's unused
// bits is wanted: the console picks the 43 characters freely from [A-Za-z0-9].
func parseAESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != encodingAESKeyLen {
		return nil, fmt.Errorf("wechat: the EncodingAESKey has %d characters, want %d", len(encodingAESKey), encodingAESKeyLen)
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("wechat: the EncodingAESKey is not base64 for 32 bytes")
	}
	return key, nil
}

// encryptMessage seals msg for appID the way WeChat does and returns the base64 text that goes in
// Encrypt. random must be 16 bytes.
func encryptMessage(key []byte, appID string, random, msg []byte) (string, error) {
	if len(random) != randomLen {
		return "", fmt.Errorf("wechat: the random prefix has %d bytes, want %d", len(random), randomLen)
	}
	if uint64(len(msg)) > 1<<32-1 {
		return "", errors.New("wechat: the message is too long for its 4-byte length")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("wechat: %w", err)
	}
	n := randomLen + lenLen + len(msg) + len(appID)
	pad := padBlock - n%padBlock
	plain := make([]byte, 0, n+pad)
	plain = append(plain, random...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, appID...)
	for range pad {
		plain = append(plain, byte(pad))
	}
	cipher.NewCBCEncrypter(block, key[:aes.BlockSize]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// decryptMessage opens an Encrypt value and returns the message inside. It must only be given a
// value whose msg_signature has been checked: its distinct refusals (padding, length, appid) would
// otherwise be an oracle for anyone who can post to the push URL.
func decryptMessage(key []byte, appID, encrypted string) ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, fmt.Errorf("%w: Encrypt is not base64", ErrMalformed)
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: the ciphertext is %d bytes, not a whole number of AES blocks", ErrMalformed, len(data))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	cipher.NewCBCDecrypter(block, key[:aes.BlockSize]).CryptBlocks(data, data)

	pad := int(data[len(data)-1])
	if pad < 1 || pad > padBlock || pad > len(data) {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	for _, b := range data[len(data)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
		}
	}
	plain := data[:len(data)-pad]

	if len(plain) < randomLen+lenLen {
		return nil, fmt.Errorf("%w: the plaintext is too short", ErrMalformed)
	}
	// Compare in uint64 so that a length near 2³² cannot wrap on a 32-bit int.
	msgLen := uint64(binary.BigEndian.Uint32(plain[randomLen:]))
	rest := plain[randomLen+lenLen:]
	if msgLen > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: msg_len %d runs past the plaintext's end", ErrMalformed, msgLen)
	}
	msg, gotAppID := rest[:msgLen], rest[msgLen:]
	if string(gotAppID) != appID {
		return nil, ErrWrongAppID
	}
	return msg, nil
}
