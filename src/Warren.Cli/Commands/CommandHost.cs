namespace Warren.Cli.Commands;

/// <summary>What the long-running commands (edge, agent, connect, demo) share, in `warren` and in `warren-agent`.</summary>
internal static class CommandHost
{
    /// <summary>A flag that overrides a configuration key; an absent or empty flag leaves the file's value.</summary>
    public static void AddOverride(Dictionary<string, string> overrides, string key, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            overrides[key] = value;
        }
    }

    /// <summary>Completes when the command's token is canceled (SIGTERM or SIGINT, through System.CommandLine).</summary>
    public static async Task WaitForShutdownAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
