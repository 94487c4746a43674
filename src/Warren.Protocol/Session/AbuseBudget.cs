using Warren.Protocol.Framing;

namespace Warren.Protocol.Session;

/// <summary>
/// Counts what only a broken or hostile peer does (docs/protocol.md §7: refused opens, empty DATA, tiny window
/// updates); past the budget within the window the peer is cut off with ENHANCE_YOUR_CALM, and the GOAWAY says which
/// event tripped it. Nothing a correct peer may do counts: a reset of a stream not yet accepted is the normal way to
/// give up on a request (a client that went away), so it is not abuse (issue 12). Reader loop only.
/// </summary>
internal sealed class AbuseBudget(int budget, TimeSpan window, TimeProvider time)
{
    private long _windowStart;
    private int _count;

    /// <summary>Counts one event; throws <see cref="ProtocolException"/> (ENHANCE_YOUR_CALM) past the budget.</summary>
    public void Count(string what)
    {
        var now = time.GetTimestamp();
        if (_windowStart == 0 || time.GetElapsedTime(_windowStart, now) > window)
        {
            _windowStart = now;
            _count = 0;
        }
        if (++_count > budget)
        {
            throw new ProtocolException(ErrorCode.EnhanceYourCalm, $"abuse budget exceeded: over {budget} events ({what}) within {window.TotalSeconds:0.#} s");
        }
    }
}
