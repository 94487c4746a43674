namespace Warren.Cli.Hosting;

/// <summary>
/// Where the runtime runs the continuation of a socket operation. By default the socket engine's epoll thread hands
/// every completion to the thread pool: one thread wake-up per socket read, four per proxied request through the
/// tunnel, the largest part of a request's latency on an idle machine (docs/performance.md). Warren's own socket code
/// (the session's reader and writer, the splice, Kestrel with inline scheduling) never blocks, so the `warren`
/// process runs completions inline, on one epoll thread per core. An operator can still choose the runtime's default
/// by setting DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 in the environment.
/// </summary>
internal static class SocketCompletions
{
    private const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Call first thing in Main: the runtime reads the variable once, when the first socket is used.</summary>
    public static void RunInline()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }
    }
}
