using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Warren.Protocol.Session;

namespace Warren.Testing.Sessions;

/// <summary>
/// A real multiplexer session pair over in-memory pipes: the edge's end (server) and the agent's end (client), as
/// the unit tests of the edge's routing and the agent's dispatcher need them, without sockets or TLS.
/// </summary>
internal sealed class MuxPair : IAsyncDisposable
{
    private MuxPair(MuxSession edge, MuxSession agent)
    {
        Edge = edge;
        Agent = agent;
    }

    /// <summary>The edge's end: it opens streams.</summary>
    public MuxSession Edge { get; }

    /// <summary>The agent's end: it accepts them.</summary>
    public MuxSession Agent { get; }

    public static async Task<MuxPair> StartAsync(ILoggerFactory loggerFactory)
    {
        var toAgent = new Pipe();
        var toEdge = new Pipe();
        var edge = MuxSession.StartAsync(new Duplex(toEdge.Reader, toAgent.Writer), SessionRole.Server, new SessionOptions(), loggerFactory.CreateLogger("edge-session"), name: "edge");
        var agent = await MuxSession.StartAsync(new Duplex(toAgent.Reader, toEdge.Writer), SessionRole.Client, new SessionOptions(), loggerFactory.CreateLogger("agent-session"), name: "agent")
            .WaitAsync(Wait.DefaultTimeout);
        return new MuxPair(await edge.WaitAsync(Wait.DefaultTimeout), agent);
    }

    public async ValueTask DisposeAsync()
    {
        await Edge.DisposeAsync().AsTask().WaitAsync(Wait.DefaultTimeout);
        await Agent.DisposeAsync().AsTask().WaitAsync(Wait.DefaultTimeout);
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
