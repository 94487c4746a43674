using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Text;
using Warren.Configuration;

namespace Warren.Edge.Forwarding;

/// <summary>
/// Reads one HTTP/1.x response from a tunnel stream for <see cref="TunnelUpgradeHandler"/>: the head, parsed as
/// strictly as a front end must be (no folded lines, no space before a colon, one Content-Length, no control
/// characters; anything else is an <see cref="HttpRequestException"/>, which YARP answers with 502), then a body
/// stream framed by the head. A 101's body is the stream itself, both ways, with the bytes that followed the head in
/// front of it. The head's buffer is rented and goes back to the pool once the head is read (101) or the body is
/// disposed, so an open WebSocket holds none.
/// </summary>
internal sealed class Http1Reader(Stream stream, int maxHeadBytes)
{
    private readonly Stream _stream = stream;
    private const int MaxChunkLineBytes = 8 * 1024;
    private const int MaxInterimResponses = 8;

    private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(4096);
    private int _start;
    private int _end;

    public async ValueTask<HttpResponseMessage> ReadResponseAsync(CancellationToken cancellationToken)
    {
        var interim = 0;
        try
        {
            while (true)
            {
                var headEnd = await FillUntilHeadEndAsync(cancellationToken).ConfigureAwait(false);
                var response = ParseHead(_buffer.AsSpan(_start, headEnd - _start), out var framing);
                _start = headEnd;
                if ((int)response.StatusCode is >= 100 and < 200 and not 101)
                {
                    // An interim answer (100 Continue, 103 Early Hints): skipped, as SocketsHttpHandler does; a few, not
                    // an endless stream of them.
                    if (++interim > MaxInterimResponses)
                    {
                        throw new HttpRequestException($"the service sent more than {MaxInterimResponses} interim (1xx) answers");
                    }
                    continue;
                }
                Stream body = response.StatusCode == HttpStatusCode.SwitchingProtocols ? Upgraded()
                    : (int)response.StatusCode is 204 or 304 ? new BodyStream(this, BodyFraming.Empty, 0)
                    : framing.Chunked ? new BodyStream(this, BodyFraming.Chunked, 0)
                    : framing.ContentLength is { } length ? new BodyStream(this, BodyFraming.Fixed, length)
                    : new BodyStream(this, BodyFraming.UntilEnd, 0);
                var content = new StreamResponseContent(body);
                foreach (var (name, value) in framing.ContentHeaders)
                {
                    content.Headers.TryAddWithoutValidation(name, value);
                }
                response.Content = content;
                return response;
            }
        }
        catch
        {
            ReturnBuffer();
            throw;
        }
    }

    /// <summary>Reads until the buffer holds a whole head; returns the index just past its empty line.</summary>
    private async ValueTask<int> FillUntilHeadEndAsync(CancellationToken cancellationToken)
    {
        var scanned = 0; // bytes after _start already searched (the buffer may move under a fill)
        while (true)
        {
            var buffer = _buffer!;
            for (var i = _start + Math.Max(scanned, 1); i < _end; i++)
            {
                // The empty line: "\n\n" or "\n\r\n" (a bare LF ends a line too, as in SocketsHttpHandler).
                if (buffer[i] == '\n' && (buffer[i - 1] == '\n' || (buffer[i - 1] == '\r' && i - 2 >= _start && buffer[i - 2] == '\n')))
                {
                    return i + 1;
                }
            }
            scanned = _end - _start;
            if (scanned >= maxHeadBytes)
            {
                throw new HttpRequestException($"the service's response head is larger than {maxHeadBytes / 1024} KiB");
            }
            if (await FillAsync(maxHeadBytes, cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new HttpRequestException(_end == _start
                    ? "the service closed the stream without answering"
                    : "the service closed the stream in the middle of its response head");
            }
        }
    }

    /// <summary>Reads more bytes after the buffered ones (moving them to the front, growing up to <paramref name="limit"/>); 0 at the end.</summary>
    private async ValueTask<int> FillAsync(int limit, CancellationToken cancellationToken)
    {
        var buffer = _buffer!;
        if (_end == buffer.Length)
        {
            var buffered = _end - _start;
            if (_start > 0)
            {
                buffer.AsSpan(_start, buffered).CopyTo(buffer);
            }
            else
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, Math.Max(limit, buffer.Length)));
                buffer.AsSpan(0, buffered).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(buffer);
                _buffer = buffer = larger;
            }
            _start = 0;
            _end = buffered;
        }
        var read = await _stream.ReadAsync(buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        _end += read;
        return read;
    }

    private struct Framing
    {
        public bool TransferEncoding;
        public bool Chunked;
        public long? ContentLength;
        public List<(string Name, string Value)> ContentHeaders;
    }

    private static HttpResponseMessage ParseHead(ReadOnlySpan<byte> head, out Framing framing)
    {
        framing = new Framing { ContentHeaders = [] };
        var lineEnd = head.IndexOf((byte)'\n');
        var statusLine = TrimCr(head[..lineEnd]);
        // "HTTP/1.1 101 Switching Protocols": the version, a space, three digits, then nothing or a space and a reason.
        if (statusLine.Length < 12 || !statusLine.StartsWith("HTTP/1."u8) || !char.IsAsciiDigit((char)statusLine[7]) || statusLine[8] != ' '
            || !char.IsAsciiDigit((char)statusLine[9]) || !char.IsAsciiDigit((char)statusLine[10]) || !char.IsAsciiDigit((char)statusLine[11])
            || (statusLine.Length > 12 && statusLine[12] != ' ') || statusLine[9] == '0')
        {
            throw new HttpRequestException($"the service answered with an invalid status line '{Printable(statusLine)}'");
        }
        var response = new HttpResponseMessage((HttpStatusCode)int.Parse(statusLine.Slice(9, 3), CultureInfo.InvariantCulture))
        {
            Version = statusLine[7] == '0' ? HttpVersion.Version10 : HttpVersion.Version11,
            ReasonPhrase = statusLine.Length > 13 ? Value(statusLine[13..], "reason phrase") : null,
        };
        var rest = head[(lineEnd + 1)..];
        while (true)
        {
            lineEnd = rest.IndexOf((byte)'\n');
            var line = TrimCr(rest[..lineEnd]);
            rest = rest[(lineEnd + 1)..];
            if (line.IsEmpty)
            {
                if (framing.TransferEncoding && framing.ContentLength is not null)
                {
                    // RFC 9112 §6.3: "ought to be handled as an error" (it is how responses are smuggled).
                    throw new HttpRequestException("the service's response has both Transfer-Encoding and Content-Length");
                }
                return response;
            }
            if (line[0] is (byte)' ' or (byte)'\t')
            {
                throw new HttpRequestException("the service's response has a folded header line"); // RFC 9112 §5.2: obs-fold
            }
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                throw new HttpRequestException($"the service's response has an invalid header line '{Printable(line)}'");
            }
            var name = Encoding.ASCII.GetString(line[..colon]);
            var value = Value(line[(colon + 1)..].Trim(" \t"u8), name);
            if (string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                // One length, digits only: two different ones are how a response is smuggled (RFC 9112 §6.3).
                if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var length)
                    || (framing.ContentLength is { } earlier && earlier != length))
                {
                    throw new HttpRequestException($"the service's response has an invalid Content-Length '{value}'");
                }
                framing.ContentLength = length;
            }
            else if (string.Equals(name, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                // Chunked when it is the last coding; any other coding is read to the end of the stream (RFC 9112 §6.3).
                framing.TransferEncoding = true;
                framing.Chunked = value.EndsWith("chunked", StringComparison.OrdinalIgnoreCase);
            }
            if (!response.Headers.TryAddWithoutValidation(name, value))
            {
                framing.ContentHeaders.Add((name, value)); // Content-Type, Content-Length, ...: the content's headers
            }
        }
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) => line.EndsWith("\r"u8) ? line[..^1] : line;

    private static bool IsToken(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (b <= ' ' || b >= 0x7F || "\"(),/:;<=>?@[\\]{}"u8.Contains(b))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>A header value or reason phrase as Latin-1; a control character (a bare CR, NUL) makes it invalid.</summary>
    private static string Value(ReadOnlySpan<byte> value, string what)
    {
        foreach (var b in value)
        {
            if ((b < ' ' && b != '\t') || b == 0x7F)
            {
                throw new HttpRequestException($"the service's response has a control character in {what}");
            }
        }
        return Encoding.Latin1.GetString(value);
    }

    /// <summary>The service's bytes for an error message (which is logged): Latin-1, escaped and cut by <see cref="LogText"/>.</summary>
    private static string Printable(ReadOnlySpan<byte> text) => LogText.Bound(Encoding.Latin1.GetString(text[..Math.Min(text.Length, 120)]), 80);

    /// <summary>The upgraded stream: the bytes after the 101's head (copied out, usually none), then the tunnel stream.</summary>
    private UpgradedStream Upgraded()
    {
        var early = _buffer.AsSpan(_start, _end - _start).ToArray();
        ReturnBuffer();
        return new UpgradedStream(_stream, early);
    }

    private void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Copies buffered bytes, else reads the stream; 0 at its end.</summary>
    private async ValueTask<int> ReadRawAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_end > _start)
        {
            var n = Math.Min(destination.Length, _end - _start);
            _buffer.AsSpan(_start, n).CopyTo(destination.Span);
            _start += n;
            return n;
        }
        return await _stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One line of the chunked coding (a size line, an empty line, a trailer), without its CRLF.</summary>
    private async ValueTask<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = TrimCr(_buffer.AsSpan(_start, newline));
                _start += newline + 1;
                return Value(line, "the chunked coding");
            }
            if (_end - _start >= MaxChunkLineBytes)
            {
                throw new IOException($"a line of the service's chunked coding is longer than {MaxChunkLineBytes / 1024} KiB");
            }
            if (await FillAsync(MaxChunkLineBytes, cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new IOException("the service closed the stream in the middle of its chunked response body");
            }
        }
    }

    private enum BodyFraming
    {
        Empty,
        Fixed,
        Chunked,
        UntilEnd,
    }

    /// <summary>A refused upgrade's response body, decoded from its framing; reading past it reads nothing more.</summary>
    private sealed class BodyStream(Http1Reader reader, BodyFraming framing, long length) : Stream
    {
        private long _remaining = framing == BodyFraming.Fixed ? length : 0; // of the body (Fixed) or of the chunk (Chunked)
        private bool _done = framing == BodyFraming.Empty || (framing == BodyFraming.Fixed && length == 0);
        private bool _afterChunk;

        public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(reader._buffer is null, this);
            if (_done || destination.IsEmpty)
            {
                return 0;
            }
            if (framing == BodyFraming.UntilEnd)
            {
                var n = await reader.ReadRawAsync(destination, cancellationToken).ConfigureAwait(false);
                _done = n == 0;
                return n;
            }
            if (framing == BodyFraming.Chunked && _remaining == 0 && !await NextChunkAsync(cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }
            var read = await reader.ReadRawAsync(destination[..(int)Math.Min(destination.Length, _remaining)], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("the service closed the stream before the end of its response body");
            }
            _remaining -= read;
            _done = framing == BodyFraming.Fixed && _remaining == 0;
            return read;
        }

        /// <summary>Reads the next chunk's size line; false after the last chunk and its trailers.</summary>
        private async ValueTask<bool> NextChunkAsync(CancellationToken cancellationToken)
        {
            if (_afterChunk && (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)).Length != 0)
            {
                throw new IOException("the service's chunked response body has data after a chunk's end");
            }
            var line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            var size = line.AsSpan();
            if (size.IndexOf(';') is var extensions and >= 0)
            {
                size = size[..extensions]; // chunk extensions are ignored
            }
            size = size.TrimEnd(" \t");
            if (size.IsEmpty || size.Length > 15 || !long.TryParse(size, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var chunk))
            {
                throw new IOException($"the service's chunked response body has an invalid chunk size '{LogText.Bound(line, 40)}'");
            }
            if (chunk == 0)
            {
                while ((await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)).Length != 0)
                {
                    // trailers: not forwarded for a refused upgrade
                }
                _done = true;
                return false;
            }
            _remaining = chunk;
            _afterChunk = true;
            return true;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                reader.ReturnBuffer();
                reader._stream.Dispose();
            }
            base.Dispose(disposing);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>The tunnel stream after a 101, both ways, with the service's first bytes (if they came with the head) in front.</summary>
    private sealed class UpgradedStream(Stream inner, byte[] early) : Stream
    {
        private int _earlyRead;

        public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            if (_earlyRead < early.Length)
            {
                var n = Math.Min(destination.Length, early.Length - _earlyRead); // 0 for a zero-byte read: data is here
                early.AsSpan(_earlyRead, n).CopyTo(destination.Span);
                _earlyRead += n;
                return ValueTask.FromResult(n);
            }
            return inner.ReadAsync(destination, cancellationToken);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) => inner.WriteAsync(source, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>
    /// A response's content whose stream is handed over as it is (<see cref="StreamContent"/> would wrap it read-only,
    /// and a 101's stream is written to as well).
    /// </summary>
    private sealed class StreamResponseContent(Stream body) : HttpContent
    {
        protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult(body);

        protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => body;

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => body.CopyToAsync(stream);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            body.CopyToAsync(stream, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                body.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
