fn main() {
    println!("pushpull");
}
