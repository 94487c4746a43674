using System.IO.Pipelines;

namespace Warren.Protocol.Transport;

/// <summary>Adapts a byte <see cref="Stream"/> (NetworkStream, SslStream) to the <see cref="IDuplexPipe"/> a session runs on.</summary>
public static class StreamTransport
{
    /// <summary>
    /// Wraps <paramref name="stream"/>; the caller keeps ownership and disposes it after the session ends.
    /// Large segments let the writer hand the stream few, large writes.
    /// </summary>
    public static IDuplexPipe Create(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 8 * 1024, leaveOpen: true));
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
        return new DuplexPipe(reader, writer);
    }

    /// <summary>Two connected in-memory transports, for tests and benchmarks.</summary>
    public static (IDuplexPipe Client, IDuplexPipe Server) CreateInMemoryPair(PipeOptions? options = null)
    {
        options ??= new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false);
        var toServer = new Pipe(options);
        var toClient = new Pipe(options);
        return (new DuplexPipe(toClient.Reader, toServer.Writer), new DuplexPipe(toServer.Reader, toClient.Writer));
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
