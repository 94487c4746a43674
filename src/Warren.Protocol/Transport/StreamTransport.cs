using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;

namespace Warren.Protocol.Transport;

/// <summary>Adapts a byte <see cref="Stream"/> (NetworkStream, SslStream) to the <see cref="IDuplexPipe"/> a session runs on.</summary>
public static class StreamTransport
{
    /// <summary>
    /// Wraps <paramref name="stream"/>; the caller keeps ownership and disposes it after the session ends. Large
    /// segments let the writer hand the stream few, large writes. Completing the output ends our direction for the
    /// peer with a TCP FIN, so it reads the session's last frames and then the end, as it would at a clean close,
    /// rather than a reset. <paramref name="socket"/> is the connection under the stream (an SslStream does not
    /// expose it); without it nothing is sent at completion.
    /// </summary>
    public static IDuplexPipe Create(Stream stream, Socket? socket = null) =>
        stream is SealedLinkStream sealedLink ? Create(sealedLink) : Create(stream, socket, stream as LinkStream);

    /// <summary>
    /// Wraps <paramref name="stream"/> (the link itself, or the TLS stream over it), as above; each flush of the
    /// session is one batch of <paramref name="link"/>'s, so the TLS records it makes leave in one send.
    /// </summary>
    public static IDuplexPipe Create(Stream stream, LinkStream link)
    {
        ArgumentNullException.ThrowIfNull(link);
        // Once TLS has handed over to sealed records, the link stream is out of the path.
        return stream is SealedLinkStream sealedLink ? Create(sealedLink) : Create(stream, link.Socket, link);
    }

    /// <summary>Wraps the sealed agent link: each flush is sealed into records that leave in one send.</summary>
    public static IDuplexPipe Create(SealedLinkStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var (reader, writer) = CreatePipes(stream);
        return new DuplexPipe(reader, new ShutdownOnComplete(writer, stream.Socket, link: null, sendAtEnd: stream), () => stream.HasWholeRecord);
    }

    private static DuplexPipe Create(Stream stream, Socket? socket, LinkStream? link)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var (reader, writer) = CreatePipes(stream);
        // Under TLS the reader gets one record per read; a whole record read ahead means the next read will not wait.
        Func<bool>? moreInputReady = link is not null && stream is SslStream ? () => link.HasWholeTlsRecord : null;
        return new DuplexPipe(reader, new ShutdownOnComplete(writer, socket ?? (stream as NetworkStream)?.Socket, link, sendAtEnd: link), moreInputReady);
    }

    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 8 * 1024, leaveOpen: true)),
         PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true)));

    /// <summary>Two connected in-memory transports, for tests and benchmarks.</summary>
    public static (IDuplexPipe Client, IDuplexPipe Server) CreateInMemoryPair(PipeOptions? options = null)
    {
        options ??= new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false);
        var toServer = new Pipe(options);
        var toClient = new Pipe(options);
        return (new DuplexPipe(toClient.Reader, toServer.Writer), new DuplexPipe(toServer.Reader, toClient.Writer));
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output, Func<bool>? moreInputReady = null) : IDuplexPipe, IInputHint
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
        public bool MoreInputReady => moreInputReady?.Invoke() ?? false;
    }

    /// <summary>
    /// A writer that, once completed without error, shuts the socket's sending direction down. Over a
    /// <see cref="LinkStream"/>, each flush is one batch: the TLS records it makes leave in one send.
    /// <para>
    /// No TLS close_notify goes before the FIN. <see cref="SslStream.ShutdownAsync"/> is not serialised with a read in
    /// progress on another thread: on Linux it runs OpenSSL's SSL_shutdown, which also reads the input, on the SSL object
    /// the reader is decrypting with, and the read then fails ("application data after close notify"; one shutdown in
    /// a few hundred against a peer still sending, in a loopback test). Here the reader is always reading at that
    /// moment (it drains after a GOAWAY), so the session lost its own last frames to the reset that followed. A FIN
    /// alone ends the peer's TLS reads cleanly, and truncation is not a risk: the session says itself how it ended
    /// (GOAWAY; docs/protocol.md, "Closing the transport").
    /// </para>
    /// </summary>
    /// <param name="sendAtEnd">What holds the last flush's bytes until flushed itself: the link's batch, or the sealed records.</param>
    private sealed class ShutdownOnComplete(PipeWriter inner, Socket? socket, LinkStream? link, Stream? sendAtEnd) : PipeWriter
    {
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;
        public override void Advance(int bytes) => inner.Advance(bytes);
        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            link?.BeginBatch();
            return inner.FlushAsync(cancellationToken);
        }

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            link?.BeginBatch();
            return inner.WriteAsync(source, cancellationToken);
        }
        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            if (exception is null)
            {
                try
                {
                    sendAtEnd?.Flush(); // whatever the last batch gathered goes out before the FIN
                }
                catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
                {
                }
                ShutdownSocket();
            }
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            await inner.CompleteAsync(exception).ConfigureAwait(false);
            if (exception is not null)
            {
                return;
            }
            try
            {
                if (sendAtEnd is not null)
                {
                    await sendAtEnd.FlushAsync().ConfigureAwait(false); // the last batch, before the FIN
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
                // The connection is already gone or closing: nothing left to tell the peer.
            }
            ShutdownSocket();
        }

        private void ShutdownSocket()
        {
            try
            {
                socket?.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }
    }
}
