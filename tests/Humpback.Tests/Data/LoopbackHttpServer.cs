using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Humpback.Tests.Data;

/// <summary>A minimal HTTP/1.1 file server on 127.0.0.1 with an ephemeral port (loopback only): GET with
/// single "bytes=N-" ranges, redirects carrying X-Linked-Etag (as the Hugging Face hub sends), and a switch that
/// cuts the first response short to simulate a dropped connection. One request per connection.</summary>
public sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _cutsLeft;

    public LoopbackHttpServer()
    {
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public string BaseUrl => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public ConcurrentDictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);
    public ConcurrentDictionary<string, (string Location, string? LinkedEtag)> Redirects { get; } = new(StringComparer.Ordinal);
    public bool SupportRanges { get; set; } = true;

    /// <summary>Requests seen: "GET /path" plus " Range: bytes=N-" when a range was asked.</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    /// <summary>The next <paramref name="times"/> file responses send only <paramref name="bytes"/> bytes of the body, then close.</summary>
    public void CutNextResponses(int times, int bytes)
    {
        CutAfter = bytes;
        _cutsLeft = times;
    }

    private int CutAfter { get; set; }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                NetworkStream stream = client.GetStream();
                string head = await ReadHeadAsync(stream);
                string[] lines = head.Split("\r\n");
                string[] requestLine = lines[0].Split(' ');
                string path = requestLine[1];
                string? range = lines.Skip(1).FirstOrDefault(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase))?[6..].Trim();
                Log.Enqueue($"{requestLine[0]} {path}" + (range != null ? $" Range: {range}" : ""));

                if (Redirects.TryGetValue(path, out var redirect))
                {
                    string extra = redirect.LinkedEtag != null ? $"X-Linked-Etag: \"{redirect.LinkedEtag}\"\r\n" : "";
                    await WriteAsync(stream, $"HTTP/1.1 302 Found\r\nLocation: {redirect.Location}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
                    return;
                }
                if (!Files.TryGetValue(path, out byte[]? body))
                {
                    await WriteAsync(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    return;
                }
                long from = 0;
                if (range != null && SupportRanges)
                {
                    from = long.Parse(range["bytes=".Length..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
                    if (from >= body.Length)
                    {
                        await WriteAsync(stream, $"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{body.Length}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        return;
                    }
                    await WriteAsync(stream, $"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{body.Length - 1}/{body.Length}\r\nContent-Length: {body.Length - from}\r\nConnection: close\r\n\r\n");
                }
                else
                {
                    await WriteAsync(stream, $"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n");
                }
                int send = body.Length - (int)from;
                if (!path.EndsWith(".sha256", StringComparison.Ordinal) && Interlocked.Decrement(ref _cutsLeft) >= 0) send = Math.Min(send, CutAfter);
                await stream.WriteAsync(body.AsMemory((int)from, send));
                await stream.FlushAsync();
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (IOException) { }
            catch (SocketException) { }
        }
    }

    private static async Task<string> ReadHeadAsync(NetworkStream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (!(bytes.Count >= 4 && bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n'))
        {
            if (await stream.ReadAsync(one) == 0) break;
            bytes.Add(one[0]);
        }
        return Encoding.ASCII.GetString(bytes.ToArray());
    }

    private static Task WriteAsync(NetworkStream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask();

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _loop; } catch (Exception) { }
        _stop.Dispose();
    }
}
