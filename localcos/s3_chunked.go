package localcos

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The aws-chunked body of a PUT signed with x-amz-content-sha256:
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD, from "Signature Calculations for the
// Authorization Header: Transferring Payload in Multiple Chunks (Chunked
// Upload)" (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html).
// minio-go sends every PutObject over plain HTTP this way. Each chunk is
//
//	hex(size) ";chunk-signature=" signature \r\n data \r\n
//
// and the last one has no data. Each chunk's signature chains from the
// previous one, the first from the request's (the seed):
//
//	StringToSign = "AWS4-HMAC-SHA256-PAYLOAD" \n <x-amz-date> \n <scope> \n
//	               <previous signature> \n hex(SHA256("")) \n hex(SHA256(data))
//
// The decoded bytes are handed on as they arrive (the caller writes them to
// a temporary file that becomes the object only when the whole body has
// verified); a chunk's signature is checked when its last byte has been
// read, and a mismatch fails the read.

const (
	chunkPayloadAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
	// maxChunkHeaderBytes bounds a chunk's header line: a size of at most
	// 16 hex digits, ";chunk-signature=" and 64 hex digits fit well within.
	maxChunkHeaderBytes = 256
)

// awsChunkedReader decodes and verifies an aws-chunked body.
type awsChunkedReader struct {
	r          *bufio.Reader
	signingKey []byte
	prefix     string // the StringToSign's first three lines
	prev       string // the previous chunk's signature; first the seed
	declared   int64  // x-amz-decoded-content-length
	decoded    int64
	left       int64  // bytes of the current chunk still to read
	want       string // the current chunk's signature, as sent
	sum        hash.Hash
	done       bool
	err        error
}

func newAWSChunkedReader(body io.Reader, signingKey []byte, timestamp string, scope sigV4Scope, seed string, declared int64) *awsChunkedReader {
	return &awsChunkedReader{
		r:          bufio.NewReaderSize(body, 64<<10),
		signingKey: signingKey,
		prefix:     chunkPayloadAlgorithm + "\n" + timestamp + "\n" + scope.String() + "\n",
		prev:       seed,
		declared:   declared,
		sum:        sha256.New(),
	}
}

func errChunked(why string) error {
	return refuse(http.StatusBadRequest, "InvalidRequest", "The aws-chunked body is malformed: "+why+".")
}

func (c *awsChunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.sum.Write(p[:n])
	c.left -= int64(n)
	c.decoded += int64(n)
	switch {
	case c.left == 0:
		if err := c.endChunk(); err != nil {
			c.err = err
			return n, err
		}
	case errors.Is(err, io.EOF):
		c.err = io.ErrUnexpectedEOF
		return n, c.err
	case err != nil:
		c.err = err
		return n, err
	}
	return n, nil
}

// nextChunk reads a chunk's header; the final, empty chunk is verified at
// once and ends the body.
func (c *awsChunkedReader) nextChunk() error {
	line, err := c.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkHeaderBytes:
		return errChunked("a chunk header is too long")
	case errors.Is(err, io.EOF):
		return io.ErrUnexpectedEOF
	case err != nil:
		return err
	}
	header, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return errChunked("a chunk header does not end with CRLF")
	}
	sizeHex, sig, ok := strings.Cut(header, ";chunk-signature=")
	if !ok || len(sig) != 2*sha256.Size || len(sizeHex) == 0 || len(sizeHex) > 16 {
		return errChunked("a chunk header is not <hex size>;chunk-signature=<signature>")
	}
	size, err := strconv.ParseUint(sizeHex, 16, 64)
	if err != nil {
		return errChunked("a chunk size is not hexadecimal")
	}
	if size > uint64(c.declared-c.decoded) {
		return errChunked("the chunks carry more than x-amz-decoded-content-length")
	}
	c.want = sig
	c.sum.Reset()
	if size > 0 {
		c.left = int64(size)
		return nil
	}
	if err := c.verifyChunk(); err != nil {
		return err
	}
	if c.decoded != c.declared {
		return &codedError{status: http.StatusBadRequest, code: "IncompleteBody",
			message: "The chunks carry fewer bytes than x-amz-decoded-content-length."}
	}
	c.done = true
	return c.crlf()
}

// endChunk verifies the chunk just read and its trailing CRLF.
func (c *awsChunkedReader) endChunk() error {
	if err := c.verifyChunk(); err != nil {
		return err
	}
	return c.crlf()
}

func (c *awsChunkedReader) verifyChunk() error {
	toSign := c.prefix + c.prev + "\n" + hex.EncodeToString(emptySHA256[:]) + "\n" + hex.EncodeToString(c.sum.Sum(nil))
	want := hex.EncodeToString(hmacSHA256(c.signingKey, toSign))
	if !hmac.Equal([]byte(want), []byte(c.want)) {
		return errSigV4Mismatch("a chunk signature does not match its data")
	}
	c.prev = c.want
	return nil
}

func (c *awsChunkedReader) crlf() error {
	var b [2]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if string(b[:]) != "\r\n" {
		return errChunked("a chunk does not end with CRLF")
	}
	return nil
}
