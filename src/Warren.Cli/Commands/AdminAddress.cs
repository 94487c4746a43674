using System.CommandLine;

namespace Warren.Cli.Commands;

/// <summary>
/// The two options every runtime command shares (<c>warren status</c>, <c>reload</c>, <c>sessions</c>, <c>drain</c>,
/// <c>maintenance</c>): where the admin listener is, and its token (else WARREN_ADMIN_TOKEN).
/// </summary>
internal sealed class AdminAddress
{
    public Option<string> Admin { get; } = new("--admin")
    {
        Description = "Admin address of the edge or agent (host:port or URL)",
        DefaultValueFactory = _ => StatusCommand.DefaultAdmin,
        Recursive = true,
    };

    public Option<string?> Token { get; } = new("--admin-token")
    {
        Description = $"The admin listener's admin_token; default: the {StatusCommand.TokenVariable} environment variable (preferred: a flag shows in the process list)",
        Recursive = true,
    };

    /// <summary>Adds both options to <paramref name="command"/> (recursive: its subcommands take them too).</summary>
    public AdminAddress AddTo(Command command)
    {
        command.Options.Add(Admin);
        command.Options.Add(Token);
        return this;
    }

    public (string Admin, string? Token) Read(ParseResult parse) =>
        (parse.GetValue(Admin)!, parse.GetValue(Token) ?? Environment.GetEnvironmentVariable(StatusCommand.TokenVariable));
}
