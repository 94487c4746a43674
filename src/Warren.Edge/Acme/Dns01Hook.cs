using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Warren.Edge.Acme;

/// <summary>
/// DNS-01 (RFC 8555 §8.4) through the operator's hook, as lego's "exec" provider and acme.sh's dns hooks do: the
/// edge runs <c>HOOK set _acme-challenge.DOMAIN. VALUE</c>, waits <c>dns_delay</c>, and after validation
/// <c>HOOK clear _acme-challenge.DOMAIN. VALUE</c>. The hook talks to the DNS provider; the edge never holds
/// DNS credentials. Arguments are passed as an argument vector (no shell), and the hook is killed past its timeout.
/// </summary>
internal sealed class Dns01Hook(string command, TimeSpan timeout, TimeSpan delay, TimeProvider time) : IChallengeSolver
{
    /// <summary>How much of the hook's output an error message quotes.</summary>
    private const int MaxOutput = 2048;

    public string Type => "dns-01";

    public bool CanSolve(string domain, bool wildcard) => true;

    /// <summary>The TXT record's name for <paramref name="domain"/> (the authorization's identifier, "*." already removed).</summary>
    public static string RecordName(string domain) => "_acme-challenge." + domain.TrimEnd('.') + ".";

    /// <summary>base64url(SHA-256(key authorization)) (RFC 8555 §8.4).</summary>
    public static string RecordValue(string keyAuthorization) => JwsSigner.Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(keyAuthorization)));

    public async Task PresentAsync(string domain, string token, string keyAuthorization, CancellationToken cancellationToken)
    {
        await RunAsync("set", domain, keyAuthorization, cancellationToken).ConfigureAwait(false);
        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task CleanupAsync(string domain, string token, string keyAuthorization, CancellationToken cancellationToken) =>
        RunAsync("clear", domain, keyAuthorization, cancellationToken);

    private async Task RunAsync(string action, string domain, string keyAuthorization, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(action);
        start.ArgumentList.Add(RecordName(domain));
        start.ArgumentList.Add(RecordValue(keyAuthorization));
        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        void Collect(object? sender, DataReceivedEventArgs e)
        {
            lock (output)
            {
                if (e.Data is not null && output.Length < MaxOutput)
                {
                    output.Append(e.Data).Append('\n');
                }
            }
        }
        process.OutputDataReceived += Collect;
        process.ErrorDataReceived += Collect;
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new AcmeException($"the DNS hook {command} could not be started: {ex.Message}", "dnsHook", inner: ex);
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            throw new AcmeException($"the DNS hook `{command} {action} {RecordName(domain)}` did not finish within {timeout.TotalSeconds:0} s (acme.dns_hook_timeout) and was killed", "dnsHook");
        }
        if (process.ExitCode != 0)
        {
            string text;
            lock (output)
            {
                text = output.ToString().Trim();
            }
            throw new AcmeException($"the DNS hook `{command} {action} {RecordName(domain)}` exited with {process.ExitCode}: {(text.Length == 0 ? "(no output)" : text)}", "dnsHook");
        }
    }
}
