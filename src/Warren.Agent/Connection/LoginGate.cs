namespace Warren.Agent.Connection;

/// <summary>
/// Shared by an agent's sessions so that a token the edge refuses is presented once, not once per session: the edge
/// counts failed logins per source address (limits.max_auth_failures_per_ip, 10 a minute by default), and an agent
/// with 16 sessions retrying a wrong or revoked token on their own would lock every agent behind the same address
/// out (docs/security.md, "Tokens"). Session 0 is the prober: it always tries (on its own backoff, minutes after a
/// refusal). The others wait here until a login has succeeded, and wait again after a refusal or a revocation.
/// </summary>
/// <param name="prober">The index of the session that probes (the first session to its edge: with <c>edges:</c> each
/// edge has its own gate, docs/cluster.md "Agents").</param>
internal sealed class LoginGate(int prober = 0)
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _accepted = NewSignal();

    /// <summary>A session authenticated: the token works, every session may connect.</summary>
    public void Accepted()
    {
        lock (_lock)
        {
            _accepted.TrySetResult();
        }
    }

    /// <summary>The edge refused the token, or closed a session because it was revoked: only the prober tries until one succeeds.</summary>
    public void Refused()
    {
        lock (_lock)
        {
            if (_accepted.Task.IsCompleted)
            {
                _accepted = NewSignal();
            }
        }
    }

    /// <summary>Returns at once for the prober; the others wait for a login that succeeded.</summary>
    public Task WaitAsync(int index, CancellationToken cancellationToken)
    {
        if (index == prober)
        {
            return Task.CompletedTask;
        }
        lock (_lock)
        {
            return _accepted.Task.WaitAsync(cancellationToken);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
