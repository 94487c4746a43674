using Warren.Fuzz;

namespace Warren.FuzzTests;

/// <summary>
/// Every input the fuzzer kept (fuzz/corpus/&lt;target&gt;) and every crash or hang it found (fuzz/crashes/&lt;target&gt;)
/// goes through its target again: the target throws, or times out, on anything but the protocol's own errors.
/// </summary>
public sealed class ReplayTests
{
    private static readonly string Root = Path.Combine(AppContext.BaseDirectory, "fuzz");

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in new[] { "corpus", "crashes" })
        {
            foreach (var target in Targets.All.Keys)
            {
                var directory = Path.Combine(Root, kind, target);
                if (!Directory.Exists(directory))
                {
                    continue;
                }
                foreach (var file in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
                {
                    data.Add(target, Path.GetRelativePath(Root, file));
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Kept_input_gets_only_protocol_errors(string target, string file) =>
        Targets.All[target](File.ReadAllBytes(Path.Combine(Root, file)));

    [Fact]
    public void Every_target_has_a_corpus()
    {
        foreach (var target in Targets.All.Keys)
        {
            var directory = Path.Combine(Root, "corpus", target);
            Assert.True(Directory.Exists(directory) && Directory.EnumerateFiles(directory).Any(), $"no corpus for '{target}' in {directory}");
        }
    }
}
