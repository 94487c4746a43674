using System.Collections.Concurrent;
using Warren.Edge.Agents;
using Warren.Edge.Routing;

namespace Warren.Edge;

/// <summary>The edge's live state: connected agent sessions and the routes they registered.</summary>
internal sealed class EdgeState
{
    private readonly ConcurrentDictionary<long, AgentSession> _sessions = new();
    private long _authFailures;

    public RouteTable Routes { get; } = new();

    public IReadOnlyCollection<AgentSession> Sessions => [.. _sessions.Values];

    public long AuthFailures => Interlocked.Read(ref _authFailures);

    /// <summary>A new edge took the listening sockets over and this one drains (Forwarding/HandoverGate.cs).</summary>
    public bool HandedOver => Routes.HandedOver;

    /// <summary>Raised when an authenticated session joins (metrics follow it to its end through its Completion).</summary>
    public event Action<AgentSession>? SessionAdded;

    public void Add(AgentSession session)
    {
        _sessions[session.Id] = session;
        SessionAdded?.Invoke(session);
    }

    public void Remove(AgentSession session)
    {
        _sessions.TryRemove(session.Id, out _);
        Routes.Unregister(session);
    }

    public void CountAuthFailure() => Interlocked.Increment(ref _authFailures);

    /// <summary>A token was revoked: its sessions are closed now, not at their next login.</summary>
    public void CloseSessionsOf(IReadOnlySet<string> tokenNames)
    {
        foreach (var session in _sessions.Values)
        {
            if (tokenNames.Contains(session.TokenName))
            {
                session.Mux.Abort(Warren.Protocol.Framing.ErrorCode.Unauthorized, "token revoked");
            }
        }
    }
}
