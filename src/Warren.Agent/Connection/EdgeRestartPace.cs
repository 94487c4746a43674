namespace Warren.Agent.Connection;

/// <summary>
/// How an agent comes back from an edge that sent GOAWAY (it restarts, or drains for an upgrade): for
/// <see cref="Window"/> afterwards, attempts come every 0.25–0.5 s instead of climbing the backoff. A restart is over
/// in seconds, but the attempts refused meanwhile would raise the backoff's ceiling to 8 s by the fourth, keeping the
/// agent away well past the edge's grace (5 s by default), so that requests waiting for its services got 503. Refused
/// connections cost the restarting edge little, and the handshakes when it is back come in either pace. Only an edge
/// that does not answer is retried so: one that answers and refuses (a token, a rejected agent) ends the short pace.
/// </summary>
internal sealed class EdgeRestartPace(TimeProvider time, Random? random = null)
{
    /// <summary>How long after a GOAWAY the short pace lasts; then the usual backoff takes over.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(30);

    /// <summary>The longest wait between two attempts within the window (the shortest is half of it).</summary>
    public static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(500);

    private readonly Random _random = random ?? Random.Shared;
    private long _wentAwayAt;
    private bool _active;

    /// <summary>The edge sent GOAWAY: the short pace starts now.</summary>
    public void EdgeWentAway()
    {
        _wentAwayAt = time.GetTimestamp();
        _active = true;
    }

    /// <summary>The edge answered (a session is up, or it refused the agent): the next failure backs off as usual.</summary>
    public void EdgeAnswered() => _active = false;

    /// <summary>The wait before the next attempt while the window lasts (jittered, so a fleet does not dial in step); null outside it.</summary>
    public TimeSpan? Next() => _active && time.GetElapsedTime(_wentAwayAt) < Window
        ? TimeSpan.FromMilliseconds(Pace.TotalMilliseconds * (0.5 + _random.NextDouble() / 2))
        : null;
}
