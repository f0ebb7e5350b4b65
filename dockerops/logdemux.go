package dockerops

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// demuxBuffer is how much of the engine's multiplexed stream demux reads at a time; a
// frame that fits in it is handed on from the buffer, without a copy.
const demuxBuffer = 32 << 10

// demux splits the engine's multiplexed stream of a non-TTY container into stdout
// and stderr, as stdcopy.StdCopy does: stdin frames go to stdout, a daemon-error
// frame ends it with that error, an unknown stream is an error, and the end of the
// stream, even in the middle of a frame, ends it without one. StdCopy moves its
// whole 32 KiB buffer down after every frame, which for a log of short lines costs
// more than everything else on the read path; demux reads the frames out of a
// bufio.Reader instead.
func demux(r io.Reader, stdout, stderr io.Writer) error {
	br := bufio.NewReaderSize(r, demuxBuffer)
	var head [8]byte // stream, three zero bytes, big-endian frame size
	var big bytes.Buffer
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return endOfStream(err)
		}
		size := int(binary.BigEndian.Uint32(head[4:]))
		var out io.Writer
		switch stdcopy.StdType(head[0]) {
		case stdcopy.Stdin, stdcopy.Stdout:
			out = stdout
		case stdcopy.Stderr:
			out = stderr
		case stdcopy.Systemerr:
			msg := make([]byte, min(size, maxLineBytes))
			if _, err := io.ReadFull(br, msg); err != nil {
				return endOfStream(err)
			}
			return fmt.Errorf("error from daemon in stream: %s", msg)
		default:
			return fmt.Errorf("unrecognized stream: %d", head[0])
		}
		if size > demuxBuffer {
			// Gathered as it comes, so that a size the stream does not hold
			// allocates nothing, and handed on whole, as StdCopy does.
			big.Reset()
			if _, err := io.CopyN(&big, br, int64(size)); err != nil {
				return endOfStream(err)
			}
			if _, err := out.Write(big.Bytes()); err != nil {
				return err
			}
			continue
		}
		frame, err := br.Peek(size)
		if err != nil {
			return endOfStream(err)
		}
		if _, err := out.Write(frame); err != nil {
			return err
		}
		br.Discard(size)
	}
}

// endOfStream is nil for the stream's end, as StdCopy has it, else err.
func endOfStream(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}
