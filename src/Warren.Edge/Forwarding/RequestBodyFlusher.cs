using System.Net;
using System.Net.Http;

namespace Warren.Edge.Forwarding;

/// <summary>
/// Sends each chunk of a request body to the tunnel as soon as the client's bytes arrive. SocketsHttpHandler holds
/// request-body writes in its connection's buffer until it fills or the body ends, and YARP flushes them only for
/// gRPC: a trickled upload (a progress-reporting backend, a streaming API) reached the backend late, all at once
/// (docs/reliability.md). Each write of the forwarder's copy is followed by a flush; a fast upload's writes are
/// large (up to YARP's 64 KiB buffer), so this costs a DATA frame per chunk read from the client and no extra copy.
/// Requests without a body are passed through untouched (nothing is allocated).
/// </summary>
internal sealed class RequestBodyFlusher(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Content is { } body and not FlushingContent)
        {
            // The forwarder keeps its own reference to the body (it awaits its copy); only the handler below sees this.
            request.Content = new FlushingContent(body);
        }
        return base.SendAsync(request, cancellationToken);
    }

    private sealed class FlushingContent : HttpContent
    {
        private readonly HttpContent _inner;

        public FlushingContent(HttpContent inner)
        {
            _inner = inner;
            foreach (var header in inner.Headers)
            {
                Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        // The token passes through unchanged: YARP tells HTTP/1.1 from HTTP/2 by it.
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            _inner.CopyToAsync(new FlushingStream(stream), context, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = Headers.ContentLength ?? -1;
            return length >= 0;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>The connection's request-body stream, flushed after every write.</summary>
    private sealed class FlushingStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            inner.Flush();
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
