using SharpFuzz;
using Warren.Fuzz;

// Usage (fuzz/run.sh drives the first form under afl-fuzz):
//   Warren.Fuzz <target>                run the target under afl-fuzz (input from AFL; once from stdin otherwise)
//   Warren.Fuzz <target> <file>...      replay files through the target, e.g. to look at a crash
//   Warren.Fuzz seed <directory>        write the starting corpus for every target into <directory>/<target>/
if (args.Length == 0 || (args[0] != "seed" && !Targets.All.ContainsKey(args[0])))
{
    Console.Error.WriteLine($"usage: Warren.Fuzz <{string.Join('|', Targets.All.Keys)}> [file...] | seed <directory>");
    return 2;
}
if (args[0] == "seed")
{
    if (args.Length != 2)
    {
        Console.Error.WriteLine("usage: Warren.Fuzz seed <directory>");
        return 2;
    }
    Seeds.Write(args[1]);
    return 0;
}
var target = Targets.All[args[0]];
if (args.Length > 1)
{
    foreach (var file in args[1..])
    {
        target(File.ReadAllBytes(file));
        Console.WriteLine($"ok: {file}");
    }
    return 0;
}
Fuzzer.Run(stream =>
{
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    target(copy.ToArray());
});
return 0;
